package streams

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Revocations is this node's copy of the revoked tokens, so that the check at
// connect costs no Redis round trip. It is loaded from Redis at start and kept
// current from the control stream (Control). Safe for concurrent use.
//
// Its size is bounded by the revocations of one max token lifetime: each is
// forgotten once the tokens it names have expired (prune).
type Revocations struct {
	mu    sync.RWMutex
	jtis  map[string]int64          // jti -> forget at (unix ms)
	users map[string]userRevocation // user -> the latest issued_before
	gauge prometheus.Gauge
}

// userRevocation revokes a user's tokens issued before before (unix s).
type userRevocation struct {
	before   int64
	forgetAt int64 // unix ms
}

// NewRevocations returns an empty set; gauge counts its entries.
func NewRevocations(gauge prometheus.Gauge) *Revocations {
	return &Revocations{jtis: make(map[string]int64), users: make(map[string]userRevocation), gauge: gauge}
}

// Revoked reports whether a token of user with jti (empty: none) issued at iat
// (zero: no iat claim, which cannot prove a token newer than a revocation) is revoked.
func (r *Revocations) Revoked(user, jti string, iat time.Time) bool {
	now := time.Now().UnixMilli()
	r.mu.RLock()
	defer r.mu.RUnlock()
	if at, ok := r.jtis[jti]; ok && jti != "" && at > now {
		return true
	}
	u, ok := r.users[user]
	return ok && u.forgetAt > now && (iat.IsZero() || iat.Unix() < u.before)
}

// add records revocation o until forgetAt (unix ms) and reports whether that
// changed anything.
func (r *Revocations) add(o ControlOp, forgetAt int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.gauge.Set(float64(len(r.jtis) + len(r.users)))
	if o.JTI != "" {
		if r.jtis[o.JTI] >= forgetAt {
			return false
		}
		r.jtis[o.JTI] = forgetAt
		return true
	}
	u := r.users[o.User]
	if o.IssuedBefore < u.before || o.IssuedBefore == u.before && forgetAt <= u.forgetAt {
		return false
	}
	r.users[o.User] = userRevocation{before: o.IssuedBefore, forgetAt: max(u.forgetAt, forgetAt)}
	return true
}

// prune forgets revocations whose tokens have all expired by now (unix ms).
func (r *Revocations) prune(now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for j, at := range r.jtis {
		if at <= now {
			delete(r.jtis, j)
		}
	}
	for u, rev := range r.users {
		if rev.forgetAt <= now {
			delete(r.users, u)
		}
	}
	r.gauge.Set(float64(len(r.jtis) + len(r.users)))
}

// revocationMember is o's member in the Revoked sorted set.
func revocationMember(o ControlOp) string {
	if o.JTI != "" {
		return "jti:" + o.JTI
	}
	return "user:" + o.User + ":" + strconv.FormatInt(o.IssuedBefore, 10)
}

// parseRevocationMember reads a member of the Revoked sorted set back.
func parseRevocationMember(m string) (ControlOp, bool) {
	if jti, ok := strings.CutPrefix(m, "jti:"); ok {
		return ControlOp{Op: OpRevoke, JTI: jti}, true
	}
	rest, ok := strings.CutPrefix(m, "user:")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return ControlOp{}, false
	}
	before, err := strconv.ParseInt(rest[i+1:], 10, 64)
	return ControlOp{Op: OpRevoke, User: rest[:i], IssuedBefore: before}, err == nil
}

// revocationForgetAt is when revocation o, made at unix ms at, may be forgotten:
// once every token it names has expired, tokens living at most lifetime. A
// user's tokens issued before issued_before expire by issued_before + lifetime;
// a jti names a token issued at the latest when it was revoked.
func revocationForgetAt(o ControlOp, at int64, lifetime time.Duration) int64 {
	if o.JTI == "" {
		return o.IssuedBefore*1000 + lifetime.Milliseconds()
	}
	return at + lifetime.Milliseconds()
}
