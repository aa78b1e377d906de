package auth

import (
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

var sentinels = []error{ErrMissing, ErrMalformed, ErrExpired, ErrSignature, ErrClaims}

// sentinelsOf lists the sentinels err matches; the contract is exactly one.
func sentinelsOf(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

func mint(t testing.TB, c Claims, now time.Time) string {
	t.Helper()
	tok, err := Mint(secret, c, now)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signed builds tokens Mint refuses to: any claims, any HMAC alg, any key.
func signed(t testing.TB, method jwt.SigningMethod, claims jwt.MapClaims, key []byte) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func noneToken(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRoundTrip(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		in   Claims
	}{
		{"user only", Claims{User: "alice", Expiry: now.Add(time.Hour)}},
		{"device and topics", Claims{User: "user:42@example.com", Device: "phone-1", Topics: []string{"news", "room.1"}, Expiry: now.Add(time.Minute)}},
		{"longest user", Claims{User: strings.Repeat("u", 128), Expiry: now.Add(time.Hour)}},
	}
	v := NewVerifier(secret, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(mint(t, tt.in, now))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.in
			want.Expiry = time.Unix(tt.in.Expiry.Unix(), 0) // exp has second precision
			if got.User != want.User || got.Device != want.Device || !slices.Equal(got.Topics, want.Topics) || !got.Expiry.Equal(want.Expiry) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	valid := mint(t, Claims{User: "alice", Expiry: now.Add(time.Hour)}, now)
	tests := []struct {
		name  string
		token string
		want  error
		text  string // in the message, when the reason matters
	}{
		{"empty", "", ErrMissing, ""},
		{"garbage", "not a token", ErrMalformed, ""},
		{"three garbage parts", "a.b.c", ErrMalformed, ""},
		{"truncated", valid[:len(valid)-10] + "!", ErrMalformed, ""},
		{"expired", mint(t, Claims{User: "alice", Expiry: now.Add(-time.Minute)}, now.Add(-time.Hour)), ErrExpired, ""},
		{"wrong secret", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": exp}, []byte("another secret, 32 bytes long..")), ErrSignature, ""},
		{"tampered payload", tamper(t, valid), ErrSignature, ""},
		{"alg none", noneToken(t, jwt.MapClaims{"sub": "alice", "exp": exp}), ErrClaims, `alg "none"`},
		{"alg HS512", signed(t, jwt.SigningMethodHS512, jwt.MapClaims{"sub": "alice", "exp": exp}, secret), ErrClaims, "HS512"},
		{"missing sub", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"exp": exp}, secret), ErrClaims, "sub is missing"},
		{"bad sub chars", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "al ice", "exp": exp}, secret), ErrClaims, "sub must be"},
		{"sub too long", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": strings.Repeat("a", 129), "exp": exp}, secret), ErrClaims, "sub must be"},
		{"bad device", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "device": "a/b", "exp": exp}, secret), ErrClaims, "device"},
		{"bad topic", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "topics": []string{"ok", ""}, "exp": exp}, secret), ErrClaims, "topics"},
		{"missing exp", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice"}, secret), ErrClaims, "exp is missing"},
		{"nbf in the future", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": now.Add(time.Minute).Unix()}, secret), ErrClaims, "nbf"},
		{"iat in the future", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": exp, "iat": now.Add(time.Minute).Unix()}, secret), ErrClaims, "iat"},
		{"sub not a string", signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": 42, "exp": exp}, secret), ErrMalformed, ""},
	}
	v := NewVerifier(secret, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			if got := sentinelsOf(err); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("err = %v, matches %v, want exactly %v", err, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %q, want it to contain %q", err, tt.text)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Errorf("err shows the secret: %v", err)
			}
		})
	}
}

// tamper swaps the payload of a valid token for another user's.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	other := mint(t, Claims{User: "mallory", Expiry: time.Now().Add(time.Hour)}, time.Now())
	a, b := strings.Split(tok, "."), strings.Split(other, ".")
	return a[0] + "." + b[1] + "." + a[2]
}

func TestLeeway(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		leeway time.Duration
		claims jwt.MapClaims
		want   error
	}{
		{"expired within leeway", 30 * time.Second, jwt.MapClaims{"sub": "a", "exp": now.Add(-10 * time.Second).Unix()}, nil},
		{"expired beyond leeway", 30 * time.Second, jwt.MapClaims{"sub": "a", "exp": now.Add(-time.Minute).Unix()}, ErrExpired},
		{"nbf within leeway", 30 * time.Second, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(10 * time.Second).Unix()}, nil},
		{"iat within leeway", 30 * time.Second, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "iat": now.Add(10 * time.Second).Unix()}, nil},
		{"nbf past", 0, jwt.MapClaims{"sub": "a", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Second).Unix()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(secret, tt.leeway).Verify(signed(t, jwt.SigningMethodHS256, tt.claims, secret))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEmptySecretRefusesAll(t *testing.T) {
	tok := signed(t, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()}, []byte{})
	if _, err := NewVerifier(nil, 0).Verify(tok); !errors.Is(err, ErrSignature) {
		t.Fatalf("err = %v, want ErrSignature", err)
	}
	if _, err := Mint(nil, Claims{User: "a", Expiry: time.Now()}, time.Now()); err == nil {
		t.Fatal("Mint with an empty secret succeeded")
	}
}

func TestVerifierCopiesSecret(t *testing.T) {
	key := []byte(string(secret))
	v := NewVerifier(key, 0)
	key[0] ^= 0xff
	if _, err := v.Verify(mint(t, Claims{User: "a", Expiry: time.Now().Add(time.Hour)}, time.Now())); err != nil {
		t.Fatalf("caller's change to its slice affected the verifier: %v", err)
	}
}

func TestMintRefusesBadClaims(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	tests := []struct {
		name string
		c    Claims
	}{
		{"no user", Claims{Expiry: exp}},
		{"bad user", Claims{User: "a b", Expiry: exp}},
		{"no expiry", Claims{User: "a"}},
		{"bad device", Claims{User: "a", Device: "é", Expiry: exp}},
		{"bad topic", Claims{User: "a", Topics: []string{"x y"}, Expiry: exp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Mint(secret, tt.c, time.Now()); !errors.Is(err, ErrClaims) {
				t.Fatalf("err = %v, want ErrClaims", err)
			}
		})
	}
}

func TestMintSetsIssuedAt(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tok := mint(t, Claims{User: "a", Expiry: now.Add(time.Hour)}, now)
	var mc jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &mc); err != nil {
		t.Fatal(err)
	}
	if mc["iat"] != float64(now.Unix()) || mc["exp"] != float64(now.Add(time.Hour).Unix()) {
		t.Errorf("claims %v", mc)
	}
}

func TestTokenFromRequest(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		header string
		want   string
	}{
		{"header", "/ws", "Bearer h.e.ader", "h.e.ader"},
		{"header scheme case", "/ws", "bearer  h.e.ader ", "h.e.ader"},
		{"query", "/ws?token=q.u.ery", "", "q.u.ery"},
		{"header wins", "/ws?token=q.u.ery", "Bearer h.e.ader", "h.e.ader"},
		{"other scheme falls back to query", "/ws?token=q.u.ery", "Basic dXNlcjpwdw==", "q.u.ery"},
		{"empty bearer falls back to query", "/ws?token=q.u.ery", "Bearer ", "q.u.ery"},
		{"none", "/ws", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			if got := TokenFromRequest(r); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	tests := map[string]bool{
		"alice": true, "a.b:c@d-e_f": true, strings.Repeat("x", 128): true,
		"": false, strings.Repeat("x", 129): false, "a b": false, "a/b": false, "é": false, "a{b}": false,
	}
	for s, want := range tests {
		t.Run(s, func(t *testing.T) {
			if got := ValidID(s); got != want {
				t.Errorf("ValidID(%q) = %v", s, got)
			}
		})
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := NewVerifier(secret, time.Second)
	tok := mint(t, Claims{User: "alice", Expiry: time.Now().Add(time.Hour)}, time.Now())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := v.Verify(tok); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzVerify(f *testing.F) {
	now := time.Now()
	f.Add(mint(f, Claims{User: "alice", Device: "d1", Topics: []string{"news"}, Expiry: now.Add(time.Hour)}, now))
	f.Add(noneToken(f, jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}))
	f.Add("garbage")
	f.Add("a.b.c")
	f.Add("")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	ec := newEC(f, "k1")
	f.Add(ec.token(f, jwt.MapClaims{"iss": "https://id.example"}))
	f.Add(newEd(f, "k2").token(f, nil))
	hs := NewVerifier(secret, 0)
	// Several issuers: the routing by iss reads the token before it is verified.
	multi := newTestVerifier(f, Config{Issuers: []IssuerConfig{
		{Issuer: "https://id.example", PublicKeys: []string{"k1=" + writeFile(f, "k1.pem", ec.publicPEM(f))}},
		{HMACSecret: secret},
	}}, nil)
	f.Fuzz(func(t *testing.T, token string) {
		for _, v := range []*Verifier{hs, multi} {
			c, err := v.Verify(token)
			if err != nil {
				if n := len(sentinelsOf(err)); n != 1 {
					t.Fatalf("error %q matches %d sentinels, want 1", err, n)
				}
				continue
			}
			if c.validate() != nil || c.Expiry.Before(time.Now().Add(-time.Second)) {
				t.Fatalf("accepted invalid claims %+v", c)
			}
		}
	})
}
