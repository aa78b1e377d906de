package auth

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what a verified token says about its session.
type Claims struct {
	User   string    // "sub", required, 1..128 bytes of [A-Za-z0-9_.:@-]
	Device string    // "device", optional, same rule
	Topics []string  // "topics", optional, each a topic name (same rule)
	Expiry time.Time // "exp", required
	// ID ("jti") and IssuedAt ("iat") are optional; a revocation names a token
	// by its jti, or a user's tokens by when they were issued.
	ID       string
	IssuedAt time.Time
}

// claimsOf maps a verified token's claims to Claims.
func claimsOf(tc *tokenClaims) Claims {
	c := Claims{User: tc.Subject, Device: tc.Device, Topics: tc.Topics, Expiry: tc.ExpiresAt.Time, ID: tc.ID}
	if tc.IssuedAt != nil {
		c.IssuedAt = tc.IssuedAt.Time
	}
	return c
}

// maxIDBytes bounds user ids, devices and topic names (docs/PROTOCOL.md section 1).
const maxIDBytes = 128

// tokenClaims is the JSON body of a token.
type tokenClaims struct {
	jwt.RegisteredClaims
	Device string   `json:"device,omitempty"`
	Topics []string `json:"topics,omitempty"`
}

// validate applies the rules of docs/PROTOCOL.md sections 1 and 3 to c. Mint and
// Verify share it, so that Mint refuses the claims Verify would refuse.
func (c Claims) validate() error {
	if c.User == "" {
		return fmt.Errorf("%w: sub is missing", ErrClaims)
	}
	if c.Expiry.IsZero() {
		return fmt.Errorf("%w: exp is missing", ErrClaims)
	}
	if !ValidID(c.User) {
		return fmt.Errorf("%w: sub must be 1 to %d bytes of [A-Za-z0-9_.:@-]", ErrClaims, maxIDBytes)
	}
	if c.Device != "" && !ValidID(c.Device) {
		return fmt.Errorf("%w: device must be 1 to %d bytes of [A-Za-z0-9_.:@-]", ErrClaims, maxIDBytes)
	}
	for _, t := range c.Topics {
		if !ValidID(t) {
			return fmt.Errorf("%w: topics must be 1 to %d bytes of [A-Za-z0-9_.:@-] each", ErrClaims, maxIDBytes)
		}
	}
	return nil
}

// ValidID reports whether s is a valid user id, device or topic name:
// 1..128 bytes of [A-Za-z0-9_.:@-] (docs/PROTOCOL.md section 1).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

// idByte reports whether b may appear in an id.
func idByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '_' || b == '.' || b == ':' || b == '@' || b == '-'
}
