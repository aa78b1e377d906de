package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// jwk is the part of a JSON Web Key (RFC 7517, 7518, 8037) Herald reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// maxJWKSKeys bounds one key set: providers publish a handful, and a token
// without a kid is tried against every key of its algorithm.
const maxJWKSKeys = 100

// errNoUsableKey is a key set without one key Herald can verify with.
var errNoUsableKey = errors.New("no usable signing key (RS256 2048+ bits, ES256 P-256 or EdDSA Ed25519, with a kid)")

// parseJWKS returns the usable signing keys of a JWKS document and how many
// keys it skipped (encryption keys, other algorithms, no kid, bad encoding).
func parseJWKS(body []byte) (keys []pubKey, skipped int, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("not a JWKS document: %w", err)
	}
	for _, raw := range doc.Keys {
		var j jwk
		pk, err := j.decode(raw)
		if err != nil || len(keys) == maxJWKSKeys {
			skipped++
			continue
		}
		keys = append(keys, pk)
	}
	if len(keys) == 0 {
		return nil, skipped, errNoUsableKey
	}
	return keys, skipped, nil
}

// decode turns one JSON key into a pubKey. Its "alg", when present, must be
// the one algorithm its key type verifies: an RSA key marked PS256 or an EC
// key marked ES384 is not used for ES256/RS256 tokens.
func (j *jwk) decode(raw []byte) (pubKey, error) {
	if err := json.Unmarshal(raw, j); err != nil {
		return pubKey{}, err
	}
	if j.Kid == "" || (j.Use != "" && j.Use != "sig") {
		return pubKey{}, errors.New("no kid, or not a signing key")
	}
	key, err := j.publicKey()
	if err != nil {
		return pubKey{}, err
	}
	pk, err := newPubKey(j.Kid, key)
	if err != nil {
		return pubKey{}, err
	}
	if j.Alg != "" && j.Alg != pk.alg {
		return pubKey{}, fmt.Errorf("kty %s with alg %s", j.Kty, j.Alg)
	}
	return pk, nil
}

func (j *jwk) publicKey() (any, error) {
	switch {
	case j.Kty == "RSA":
		return j.rsaKey()
	case j.Kty == "EC" && j.Crv == "P-256":
		x, errX := b64(j.X)
		y, errY := b64(j.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("bad P-256 coordinates")
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		x, err := b64(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 key")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unsupported kty %q crv %q", j.Kty, j.Crv)
}

func (j *jwk) rsaKey() (any, error) {
	n, errN := b64(j.N)
	e, errE := b64(j.E)
	if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad RSA modulus or exponent")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("bad RSA exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

// b64 decodes base64url, tolerating the padding some providers add.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
