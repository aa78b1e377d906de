// Package push sends notifications to devices through the platforms' push
// services: Web Push (RFC 8030, aes128gcm payload encryption per RFC 8291,
// VAPID per RFC 8292), Firebase Cloud Messaging HTTP v1 and Apple Push
// Notification service over HTTP/2 with token authentication. It knows
// nothing of Redis or sessions: the fallback worker decides what to send and
// to whom, and this package only delivers and classifies the outcome.
package push
