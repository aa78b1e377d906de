package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Issuer is one entry of auth.issuers: a token issuer and its keys, for running
// several identity providers at once (a migration, or users and services with
// different providers).
type Issuer struct {
	Issuer     string   `koanf:"issuer"`      // iss tokens must carry; "" takes tokens of any other iss
	Audience   []string `koanf:"audience"`    // aud must name one; empty checks none
	JWKSURL    string   `koanf:"jwks_url"`    // RS256, ES256 and EdDSA keys by kid
	PublicKeys []string `koanf:"public_keys"` // PEM files, "path" or "kid=path"
}

// issuerFields are the fields an auth.issuers entry may have.
var issuerFields = []string{"issuer", "audience", "jwks_url", "public_keys"}

// toIssuers accepts a YAML sequence of mappings, or the same as a JSON array in
// one string (the environment and the flag).
func toIssuers(raw any) (any, error) {
	switch v := raw.(type) {
	case nil:
		return []Issuer{}, nil
	case []Issuer:
		return slices.Clone(v), nil
	case string:
		if strings.TrimSpace(v) == "" {
			return []Issuer{}, nil
		}
		var items []any
		if err := json.Unmarshal([]byte(v), &items); err != nil {
			return nil, fmt.Errorf(`want a JSON array such as [{"issuer":"https://id.example.com/","jwks_url":"https://id.example.com/jwks.json"}]: %v`, err)
		}
		return issuersOf(items)
	case []any:
		return issuersOf(v)
	}
	return nil, fmt.Errorf("want a list of issuers, got %s", kind(raw))
}

func issuersOf(items []any) (any, error) {
	out := make([]Issuer, 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d: want a mapping with %s, got %s", i+1, strings.Join(issuerFields, ", "), kind(item))
		}
		is, err := issuerOf(m)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		out = append(out, is)
	}
	return out, nil
}

func issuerOf(m map[string]any) (Issuer, error) {
	var is Issuer
	for name := range m {
		if !slices.Contains(issuerFields, name) {
			return is, fmt.Errorf("unknown field %q (fields: %s)", name, strings.Join(issuerFields, ", "))
		}
	}
	var errs [4]error
	var aud, keys any
	is.Issuer, errs[0] = stringField(m, "issuer")
	is.JWKSURL, errs[1] = stringField(m, "jwks_url")
	aud, errs[2] = toList(m["audience"])
	keys, errs[3] = toList(m["public_keys"])
	for i, err := range errs {
		if err != nil {
			return is, fmt.Errorf("%s: %w", []string{"issuer", "jwks_url", "audience", "public_keys"}[i], err)
		}
	}
	is.Audience, is.PublicKeys = aud.([]string), keys.([]string)
	return is, nil
}

func stringField(m map[string]any, name string) (string, error) {
	if m[name] == nil {
		return "", nil
	}
	s, err := toString(m[name])
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(s.(string)), nil
}

// issuersCheck wants keys in every entry and a usable JWKS URL.
func issuersCheck(v any) error {
	for i, is := range v.([]Issuer) {
		if is.JWKSURL == "" && len(is.PublicKeys) == 0 {
			return fmt.Errorf("item %d (issuer %q): set jwks_url or public_keys", i+1, is.Issuer)
		}
		if err := optional(httpURL)(is.JWKSURL); err != nil {
			return fmt.Errorf("item %d (issuer %q): jwks_url: %w", i+1, is.Issuer, err)
		}
	}
	return nil
}

// httpURL accepts an absolute http or https URL.
func httpURL(v any) error {
	s := v.(string)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}

// issuersYAML renders issuers the way a configuration file writes them.
func issuersYAML(issuers []Issuer) []map[string]any {
	out := make([]map[string]any, 0, len(issuers))
	for _, is := range issuers {
		out = append(out, map[string]any{
			"issuer": is.Issuer, "audience": plain(is.Audience), "jwks_url": is.JWKSURL, "public_keys": plain(is.PublicKeys),
		})
	}
	return out
}
