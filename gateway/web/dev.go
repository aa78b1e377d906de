package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/herald-push/herald/gateway/auth"
	"github.com/herald-push/herald/streams"
	"github.com/herald-push/herald/wire"
)

// dev serves the embedded mode's dev endpoints.
type dev struct {
	cfg Config
}

// tokenRequest is the body of POST /dev/token.
type tokenRequest struct {
	User   string `json:"user"`
	Device string `json:"device"`
}

// token is POST /dev/token: a token for any valid user name, valid TokenTTL.
func (d *dev) token(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if !decode(w, r, 4096, &req) {
		return
	}
	if err := wire.ValidName(req.User); err != nil {
		writeError(w, http.StatusBadRequest, "bad user: "+err.Error())
		return
	}
	if req.Device != "" && wire.ValidName(req.Device) != nil {
		writeError(w, http.StatusBadRequest, "bad device: "+wire.ErrBadName.Error())
		return
	}
	now := d.cfg.Now()
	exp := now.Add(d.cfg.TokenTTL)
	tok, err := auth.MintWith(d.cfg.Secret, auth.Claims{User: req.User, Device: req.Device, Expiry: exp}, now, d.cfg.Mint)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": req.User, "expires": exp.Unix()})
}

// publishRequest is the body of POST /dev/publish.
type publishRequest struct {
	To    string          `json:"to"`
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
	ID    string          `json:"id"`
	From  string          `json:"from"`
}

// publish is POST /dev/publish: one push from the demo page. A publisher's
// Rejection is the client's fault (400); any other error is Redis's (503).
func (d *dev) publish(w http.ResponseWriter, r *http.Request) {
	var req publishRequest
	if !decode(w, r, int64(d.cfg.MaxPayloadBytes)+4096, &req) {
		return
	}
	if (req.To == "") == (req.Topic == "") {
		writeError(w, http.StatusBadRequest, `exactly one of "to" and "topic" is required`)
		return
	}
	for _, f := range []struct{ field, v string }{{"to", req.To}, {"topic", req.Topic}, {"from", req.From}} {
		if f.v != "" && wire.ValidName(f.v) != nil {
			writeError(w, http.StatusBadRequest, "bad "+f.field+": "+wire.ErrBadName.Error())
			return
		}
	}
	if len(req.Data) == 0 || string(req.Data) == "null" {
		writeError(w, http.StatusBadRequest, "missing data")
		return
	}
	id, err := d.cfg.Publish(r.Context(), streams.Publication{
		To: req.To, Topic: req.Topic, Data: req.Data, ID: req.ID, From: req.From,
	})
	var rej streams.Rejection
	switch {
	case errors.As(err, &rej):
		writeError(w, http.StatusBadRequest, rej.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "redis unavailable; nothing was written, retry later")
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"id": id})
	}
}
