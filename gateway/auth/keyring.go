package auth

import (
	"errors"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// keyRing is one issuer's keys: the HS256 secret, PEM public keys and a JWKS.
// It picks the keys a token may be verified with: only keys of the token's
// algorithm, so an HS256 token never meets a public key and an RS256 token
// never meets the secret.
type keyRing struct {
	hmac   []byte
	hmacOn bool // HS256 accepted (NewVerifier keeps it on with an empty secret, refusing all)
	pem    []pubKey
	remote *remoteSet
}

// errNoKey keeps an empty secret from verifying tokens signed with an empty
// key, which anyone can produce.
var errNoKey = errors.New("no verification key")

// keyError carries a refusal from key selection with its sentinel and reason
// through jwt, which wraps it in text of its own.
type keyError struct{ err error }

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// methods lists the algorithms this ring can verify. A JWKS may publish any
// of the asymmetric ones at its next rotation, so all three are open with one.
func (k *keyRing) methods() []string {
	var out []string
	if k.hmacOn {
		out = append(out, algHS256)
	}
	for _, alg := range asymmetricAlgs {
		if k.remote != nil || slices.ContainsFunc(k.pem, func(p pubKey) bool { return p.alg == alg }) {
			out = append(out, alg)
		}
	}
	return out
}

// key is the jwt.Keyfunc: the secret for HS256, else every key of the token's
// algorithm that matches its kid (jwt tries each).
func (k *keyRing) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if alg == algHS256 {
		if len(k.hmac) == 0 {
			return nil, errNoKey
		}
		return k.hmac, nil
	}
	kid, _ := t.Header["kid"].(string)
	keys := k.candidates(alg, kid)
	if len(keys) == 0 {
		return nil, &keyError{k.unknown(alg, kid)}
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, pk := range keys {
		set.Keys[i] = pk.key
	}
	return set, nil
}

// candidates: without a kid, every key of alg; with one, the keys of that kid
// (the JWKS refetched once if it has none), else the PEM keys given no kid.
func (k *keyRing) candidates(alg, kid string) []pubKey {
	if kid == "" {
		return ofAlg(alg, k.pem, k.remoteAll())
	}
	if keys := ofAlg(alg, withKid(kid, k.pem)); len(keys) > 0 {
		return keys
	}
	if k.remote != nil {
		if keys := ofAlg(alg, k.remote.lookup(kid)); len(keys) > 0 {
			return keys
		}
	}
	return ofAlg(alg, withKid("", k.pem))
}

func (k *keyRing) remoteAll() []pubKey {
	if k.remote == nil {
		return nil
	}
	return k.remote.all()
}

// unknown explains why no key was found, without naming any key material.
func (k *keyRing) unknown(alg, kid string) error {
	switch {
	case kid == "":
		return fmt.Errorf("%w: the token has no kid and no configured %s key verifies it", ErrSignature, alg)
	case len(withKid(kid, k.pem, k.remoteAll())) > 0:
		return fmt.Errorf("%w: key id (kid) %s is not a key for alg %s", ErrSignature, quote(kid), alg)
	case k.remote != nil && !k.remote.healthy.Load():
		return fmt.Errorf("%w: unknown key id (kid) %s, and the issuer's key set (JWKS) is unavailable; retry later", ErrSignature, quote(kid))
	}
	return fmt.Errorf("%w: unknown key id (kid) %s", ErrSignature, quote(kid))
}

func ofAlg(alg string, lists ...[]pubKey) []pubKey {
	var out []pubKey
	for _, l := range lists {
		for _, k := range l {
			if k.alg == alg {
				out = append(out, k)
			}
		}
	}
	return out
}

func withKid(kid string, lists ...[]pubKey) []pubKey {
	var out []pubKey
	for _, l := range lists {
		for _, k := range l {
			if k.kid == kid {
				out = append(out, k)
			}
		}
	}
	return out
}
