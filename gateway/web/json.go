package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// decode reads one JSON object of at most limit bytes into v. It insists on a JSON
// content type: a cross-site form cannot send one without a CORS preflight, which
// this handler does not answer, so other sites cannot use the dev endpoints.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", tooBig.Limit))
			return false
		}
		writeError(w, http.StatusBadRequest, "body is not a JSON object of the expected fields: "+trim(err.Error()))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body has more than one JSON value")
		return false
	}
	return true
}

// trim bounds a decoder's message, which quotes the client's input, in an answer.
func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return strings.TrimSpace(s)
}

// writeError answers with status and {"error": reason}.
func writeError(w http.ResponseWriter, status int, reason string) {
	writeJSON(w, status, map[string]string{"error": reason})
}

// writeJSON answers with status and v as JSON, never to be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // a reason like "Bearer <jwt>" stays readable; the content type is JSON, never HTML
	_ = enc.Encode(v)
}
