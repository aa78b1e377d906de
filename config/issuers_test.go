package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestIssuers(t *testing.T) {
	yamlFile := writeYAML(t, `
redis: {addr: "r:1"}
auth:
  issuers:
    - issuer: https://old.example.com/
      public_keys: [/etc/herald/old.pem]
    - issuer: https://new.example.com/
      audience: herald
      jwks_url: https://new.example.com/.well-known/jwks.json
`)
	want := []Issuer{
		{Issuer: "https://old.example.com/", Audience: []string{}, PublicKeys: []string{"/etc/herald/old.pem"}},
		{Issuer: "https://new.example.com/", Audience: []string{"herald"}, JWKSURL: "https://new.example.com/.well-known/jwks.json", PublicKeys: []string{}},
	}
	c, err := Load([]string{"--config", yamlFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Auth.Issuers, want) {
		t.Errorf("from YAML: %#v", c.Auth.Issuers)
	}
	env := `HERALD_AUTH__ISSUERS=[{"issuer":"https://old.example.com/","public_keys":"/etc/herald/old.pem"},` +
		`{"issuer":"https://new.example.com/","audience":["herald"],"jwks_url":"https://new.example.com/.well-known/jwks.json"}]`
	c, err = Load(nil, []string{"HERALD_REDIS__ADDR=r:1", env})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Auth.Issuers, want) {
		t.Errorf("from the environment: %#v", c.Auth.Issuers)
	}
	out, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Load([]string{"--config", writeYAML(t, string(out))}, nil)
	if err != nil || !reflect.DeepEqual(back.Auth.Issuers, want) {
		t.Errorf("YAML round trip: %#v, %v\n%s", back.Auth.Issuers, err, out)
	}
}

func TestAuthKeysErrors(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    string // "" = loads
	}{
		{"jwks_url alone is enough", []string{"HERALD_REDIS__ADDR=r:1", "HERALD_AUTH__JWKS_URL=https://id.example.com/jwks.json"}, ""},
		{"public_keys alone is enough", []string{"HERALD_REDIS__ADDR=r:1", "HERALD_AUTH__PUBLIC_KEYS=/k.pem"}, ""},
		{"issuers alone are enough", []string{"HERALD_REDIS__ADDR=r:1", `HERALD_AUTH__ISSUERS=[{"jwks_url":"https://id.example.com/j"}]`}, ""},
		{"no keys", []string{"HERALD_REDIS__ADDR=r:1"}, "auth.hmac_secret is required"},
		{"bad jwks_url", []string{"HERALD_AUTH__JWKS_URL=id.example.com/jwks"}, "auth.jwks_url"},
		{"issuer entry without keys", []string{`HERALD_AUTH__ISSUERS=[{"issuer":"x"}]`}, "set jwks_url or public_keys"},
		{"issuer entry unknown field", []string{`HERALD_AUTH__ISSUERS=[{"issuer":"x","jwks":"https://a/b"}]`}, `unknown field "jwks"`},
		{"issuers not JSON", []string{`HERALD_AUTH__ISSUERS=https://a/b`}, "want a JSON array"},
		{"issuer without flat keys", []string{"HERALD_REDIS__ADDR=r:1", "HERALD_AUTH__ISSUER=x", `HERALD_AUTH__ISSUERS=[{"jwks_url":"https://a/b"}]`}, "auth.issuer, auth.audience"},
		{"leeway too large", []string{"HERALD_AUTH__LEEWAY=1h"}, "auth.leeway"},
		{"jwks refresh too often", []string{"HERALD_AUTH__JWKS_REFRESH=1ms"}, "auth.jwks_refresh"},
		{"jwks refresh off", []string{"HERALD_AUTH__JWKS_REFRESH=0s"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, tt.environ)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
