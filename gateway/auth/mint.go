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
	if len(secret) == 0 {
		return "", errors.New("auth: mint: empty secret")
	}
	return sign(jwt.SigningMethodHS256, "", secret, c, now)
}

// MintWithKey signs c with a private key: RS256 for RSA, ES256 for P-256,
// EdDSA for Ed25519, naming kid in the header when it is set. For operators'
// tests against a node that trusts the matching public key.
func MintWithKey(key crypto.Signer, kid string, c Claims, now time.Time) (string, error) {
	alg, err := algFor(key.Public())
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return sign(jwt.GetSigningMethod(alg), kid, key, c, now)
}

func sign(method jwt.SigningMethod, kid string, key any, c Claims, now time.Time) (string, error) {
	if err := c.validate(); err != nil {
		return "", err
	}
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.User,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(c.Expiry),
		},
		Device: c.Device,
		Topics: c.Topics,
	}
	t := jwt.NewWithClaims(method, tc)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}

// ParsePrivateKeyPEM reads the first private key of a PEM file (PKCS#8,
// PKCS#1 RSA or SEC 1 EC), for MintWithKey.
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
