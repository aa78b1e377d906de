package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-push/herald/internal/testkit"
	"github.com/herald-push/herald/streams/redistest"
)

// Herald reaches a redis-server that serves TLS only on its TLS port, verifying it
// with the CA of redis.tls_ca_file.
func TestRedisOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "redis", ca, caKey)
	tlsAddr := testkit.FreeAddr(t)
	_, port, _ := net.SplitHostPort(tlsAddr)
	srv := redistest.Start(t, redistest.Options{Args: []string{
		"--tls-port", port, "--tls-cert-file", filepath.Join(dir, "redis.pem"),
		"--tls-key-file", filepath.Join(dir, "redis.key"), "--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "no",
	}})
	n := startTestNode(t, srv, nodeOptions{}, "--redis.addr", tlsAddr, "--redis.tls", "--redis.tls_ca_file", filepath.Join(dir, "ca.pem"))
	c := connect(t, n, "alice", "")
	xadd(t, n, "to", "alice", "data", `{"seq":0}`)
	c.pushes(1, 5*time.Second)
	if l, _ := srv.Client(t).XLen(t.Context(), "herald:{u:alice}:h").Result(); l != 1 {
		t.Fatalf("history length %d on the server behind TLS", l)
	}
}

// writeCert writes name.pem and name.key: a CA when parent is nil, else a
// certificate for 127.0.0.1 signed by it.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "herald-test-" + name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+".key", "EC PRIVATE KEY", keyDER)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}
