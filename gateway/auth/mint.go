package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mint signs c with HS256, setting iat to now and exp to c.Expiry. It
// refuses claims that Verify would refuse, except an expiry in the past:
// tests need expired tokens.
func Mint(secret []byte, c Claims, now time.Time) (string, error) {
	return MintWith(secret, c, now, MintOptions{})
}

// MintOptions are the header and registered claims a token may carry besides
// Claims.
type MintOptions struct {
	Kid      string   // the header's kid; "" for none
	Issuer   string   // iss; "" for none
	Audience []string // aud; empty for none
}

// MintWith signs c with key: HS256 for a []byte secret, RS256 for an RSA
// private key, ES256 for P-256, EdDSA for Ed25519 (a crypto.Signer).
func MintWith(key any, c Claims, now time.Time, o MintOptions) (string, error) {
	method, err := mintMethod(key)
	if err != nil {
		return "", err
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(method, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.User,
			Issuer:    o.Issuer,
			Audience:  o.Audience,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(c.Expiry),
		},
		Device: c.Device,
		Topics: c.Topics,
	})
	if o.Kid != "" {
		t.Header["kid"] = o.Kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}

func mintMethod(key any) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case []byte:
		if len(k) == 0 {
			return nil, errors.New("auth: mint: empty secret")
		}
		return jwt.SigningMethodHS256, nil
	case crypto.Signer:
		alg, err := algFor(k.Public())
		if err != nil {
			return nil, fmt.Errorf("auth: mint: %w", err)
		}
		return jwt.GetSigningMethod(alg), nil
	}
	return nil, fmt.Errorf("auth: mint: unsupported key type %T", key)
}

// ParsePrivateKeyPEM reads the first private key of a PEM file (PKCS#8,
// PKCS#1 RSA or SEC 1 EC), for MintWith.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			break
		}
		if key, err := privateKey(block); err == nil {
			return key, nil
		}
	}
	return nil, errors.New("auth: no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block) found")
}

func privateKey(block *pem.Block) (crypto.Signer, error) {
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
	}
	return nil, errors.New("not a private key")
}
