package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mint signs c with HS256, setting iat to now and exp to c.Expiry. It
// refuses claims that Verify would refuse, except an expiry in the past:
// tests need expired tokens.
func Mint(secret []byte, c Claims, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: mint: empty secret")
	}
	if err := c.validate(); err != nil {
		return "", err
	}
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.User,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(c.Expiry),
		},
		Device: c.Device,
		Topics: c.Topics,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}
