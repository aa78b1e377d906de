package push

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Bounds on every provider call, so that a slow or hostile provider can
// neither hold a worker nor make it buffer without limit.
const (
	// requestTimeout bounds one HTTP exchange on top of the caller's ctx.
	requestTimeout = 30 * time.Second
	// maxResponseBody is as much of a response body as is read: providers'
	// error bodies are a few hundred bytes.
	maxResponseBody = 64 << 10
	// maxRetryAfter caps a provider's Retry-After, so that a bogus value
	// cannot park a notification for days.
	maxRetryAfter = time.Hour
)

// reply is a provider's answer, its body read up to maxResponseBody.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// defaultClient is the client used when the caller passes none: the
// timeout is a backstop for the per-request deadline.
func defaultClient(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: requestTimeout}
}

// roundTrip sends req under ctx bounded by requestTimeout and reads the
// answer. A transport failure (refused, reset, timed out) is retryable: the
// provider may well be back soon.
func roundTrip(ctx context.Context, hc *http.Client, req *http.Request) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		// The URL is left out: a Web Push endpoint is a capability and an
		// APNs path holds the device token, neither belongs in a log.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return reply{}, &RetryableError{Err: fmt.Errorf("push: %s %s: %w", req.Method, req.URL.Host, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return reply{}, &RetryableError{Err: fmt.Errorf("push: read answer from %s: %w", req.URL.Host, err)}
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 when
// absent or unreadable, which lets the caller use its own backoff.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// retryable says a status is the provider's "not now": too many requests
// or a server-side failure.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// snippet is a provider's body cut to a loggable length for an error
// message.
func snippet(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// ttlSeconds is a TTL as whole seconds for a header or field; a negative
// TTL is 0, deliver now or drop.
func ttlSeconds(ttl time.Duration) string {
	return strconv.FormatInt(int64(max(ttl, 0)/time.Second), 10)
}

// pkcs8PEM parses the first PEM block of data as a PKCS#8 private key, the
// form both Apple's .p8 files and Google's service-account keys use.
func pkcs8PEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8 private key: %w", err)
	}
	return key, nil
}
