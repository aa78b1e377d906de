package auth

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// loadPEMFiles reads the public keys of auth.public_keys. An entry is a path,
// or "kid=path" to give the file's keys that key id; a file may hold several
// keys (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE blocks).
func loadPEMFiles(entries []string) ([]pubKey, error) {
	var out []pubKey
	for _, e := range entries {
		kid, path := splitKid(e)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("auth: public key file: %w", err)
		}
		keys, err := parsePEM(kid, data)
		if err != nil {
			return nil, fmt.Errorf("auth: public key file %s: %w", path, err)
		}
		out = append(out, keys...)
	}
	return out, nil
}

// splitKid splits "kid=path"; a path alone has no kid. A '/' before the '='
// means the '=' is part of the path.
func splitKid(entry string) (kid, path string) {
	k, p, ok := strings.Cut(entry, "=")
	if !ok || k == "" || strings.ContainsAny(k, `/\`) {
		return "", entry
	}
	return k, p
}

// parsePEM returns every public key in data. A private key is refused rather
// than skipped: it has no business on a verifying node.
func parsePEM(kid string, data []byte) ([]pubKey, error) {
	var out []pubKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		key, err := pemPublicKey(block)
		if err != nil {
			return nil, fmt.Errorf("block %d (%s): %w", n, block.Type, err)
		}
		pk, err := newPubKey(kid, key)
		if err != nil {
			return nil, fmt.Errorf("block %d (%s): %w", n, block.Type, err)
		}
		out = append(out, pk)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no PEM public key found")
	}
	return out, nil
}

func pemPublicKey(block *pem.Block) (any, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("a private key; give the public key (openssl pkey -pubout)")
	}
	return nil, fmt.Errorf("not a public key")
}
