package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms Herald accepts. Each asymmetric one takes exactly one key type,
// so a key can never verify a token of another algorithm family (algorithm
// confusion), and HS256 takes only the configured secret, never a public key.
var (
	algHS256 = jwt.SigningMethodHS256.Alg()
	algRS256 = jwt.SigningMethodRS256.Alg()
	algES256 = jwt.SigningMethodES256.Alg()
	algEdDSA = jwt.SigningMethodEdDSA.Alg()
)

// asymmetricAlgs are the algorithms a JWKS may hold keys for.
var asymmetricAlgs = []string{algRS256, algES256, algEdDSA}

// minRSABits refuses RSA keys short enough to factor.
const minRSABits = 2048

// pubKey is one public key and the one algorithm it verifies.
type pubKey struct {
	kid string // "" when the operator named none (PEM)
	alg string
	key any // *rsa.PublicKey, *ecdsa.PublicKey (P-256) or ed25519.PublicKey
}

// algFor returns the algorithm key verifies, or an error for a key type or size
// Herald does not accept.
func algFor(key any) (string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits; at least %d are needed", k.N.BitLen(), minRSABits)
		}
		return algRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC key on %s; ES256 needs P-256", k.Curve.Params().Name)
		}
		return algES256, nil
	case ed25519.PublicKey:
		return algEdDSA, nil
	}
	return "", fmt.Errorf("unsupported key type %T", key)
}

// newPubKey wraps key with its algorithm.
func newPubKey(kid string, key any) (pubKey, error) {
	alg, err := algFor(key)
	if err != nil {
		return pubKey{}, err
	}
	return pubKey{kid: kid, alg: alg, key: key}, nil
}
