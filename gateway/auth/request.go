package auth

import (
	"net/http"
	"strings"
)

// TokenFromRequest finds the token: "Authorization: Bearer <jwt>" first,
// else the ?token= query parameter that browsers must use, since they cannot
// set headers on a WebSocket request.
func TokenFromRequest(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok &&
		strings.EqualFold(scheme, "Bearer") {
		if tok = strings.TrimSpace(tok); tok != "" {
			return tok
		}
	}
	if r.URL == nil {
		return ""
	}
	return r.URL.Query().Get("token")
}
