package push

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProviderKeysOfTheWrongTypeAreRefused: a valid PKCS#8 key of another
// algorithm is neither an APNs key (EC) nor an FCM key (RSA), and the error
// names what was found.
func TestProviderKeysOfTheWrongTypeAreRefused(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	dir := t.TempDir()
	p8 := filepath.Join(dir, "key.p8")
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": "p", "client_email": "e", "private_key": keyPEM})
	creds := filepath.Join(dir, "sa.json")
	for path, body := range map[string][]byte{p8: []byte(keyPEM), creds: sa} {
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := loadAPNsKey(p8); err == nil || !strings.Contains(err.Error(), "ed25519") {
		t.Errorf("apns with an Ed25519 key: %v, want refused naming the key type", err)
	}
	if _, _, err := loadServiceAccount(creds); err == nil || !strings.Contains(err.Error(), "ed25519") {
		t.Errorf("fcm with an Ed25519 key: %v, want refused naming the key type", err)
	}
}
