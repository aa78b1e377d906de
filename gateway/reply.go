package gateway

import (
	"encoding/json"
	"net/http"
)

// writeError answers with status and {"error": reason}, the shape of every refusal
// in docs/PROTOCOL.md.
func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]string{"error": reason})
}

// writeJSON answers with status and v as JSON. No answer may be cached: each one
// is about this request (a refusal, an id, the node's state now).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // a reason like "Bearer <jwt>" stays readable; the content type is JSON, never HTML
	_ = enc.Encode(v)
}
