// Package pushtest runs fake push-notification services over real HTTP for
// tests: a Web Push service, FCM HTTP v1 with its OAuth2 token endpoint, and
// APNs over TLS and HTTP/2. Each checks what the real service checks (the
// Web Push body decrypts with the subscription's key and the VAPID JWT
// verifies; the FCM service-account assertion and bearer token are valid;
// the APNs provider token, topic, push type and priority are right),
// records what it received, and has knobs to answer as the real service
// does when a target is gone or the service is failing.
//
// A request that a real service would refuse because the sender got the
// protocol wrong fails the test (t.Errorf) as well as being refused: those
// are bugs, not outcomes to handle.
//
// Every server is closed by t.Cleanup. The package starts no goroutine of
// its own beyond those of net/http/httptest.
package pushtest
