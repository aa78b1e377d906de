// Package push sends notifications to devices through the platforms' push
// services: Web Push (RFC 8030, aes128gcm payload encryption per RFC 8291,
// VAPID per RFC 8292), Firebase Cloud Messaging HTTP v1 and Apple Push
// Notification service over HTTP/2 with token authentication. It knows
// nothing of Redis or sessions: the fallback worker decides what to send and
// to whom, and this package only delivers and classifies the outcome
// (nil, ErrGone, *RetryableError, or any other error: permanent).
// docs/PUSH.md ("Providers") says what each provider sends and does with
// each answer; docs/ARCHITECTURE.md ("Push providers") why it is written
// this way.
//
// # Files
//
//	push.go             the Sender port, Notification and the outcome classes
//	senders.go          Senders: one Sender routing by target kind; ErrNoProvider
//	http.go             the bounded HTTP exchange every provider uses; Retry-After
//	webpush.go          WebPush: the request, Topic, the outcome, large payloads
//	webpush_crypto.go   RFC 8291 aes128gcm encryption (standard library only)
//	vapid.go            the VAPID Authorization header, cached per origin
//	fcm.go              FCM: the HTTP v1 message and its errors
//	fcm_token.go        the service-account JWT-bearer exchange, cached
//	apns.go             APNs: headers, body, the HTTP/2 client and its errors
//	apns_token.go       the ES256 provider token, cached 50 minutes
//	pushtest/           fake provider services over real HTTP, for tests
//
// # Goroutines
//
// None of its own. Send runs on the caller's goroutine and is safe for
// concurrent use; net/http's connection goroutines belong to the
// *http.Client (the caller's, or one per provider when none is given).
//
// # Imports
//
// wire (the target type), the standard library, golang-jwt/jwt/v5 and
// google/uuid. Nothing else of Herald.
package push
