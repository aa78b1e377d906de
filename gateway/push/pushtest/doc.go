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
// Use, in a test:
//
//	pub, priv := pushtest.NewVAPIDKeys(t)
//	wps := pushtest.NewWebPushServer(t, pub)
//	sub := wps.NewSubscription(t) // a wire.PushTarget to register
//	wp, _ := push.NewWebPush(push.WebPushConfig{VAPIDPublicKey: pub,
//		VAPIDPrivateKey: priv, Subject: "mailto:t@example.com", AllowHTTP: true}, nil)
//	// ... after the push: wps.Received()[0].Body is the decrypted push frame
//
//	fcm := pushtest.NewFCMServer(t)   // push.FCMConfig{CredentialsFile: fcm.CredentialsFile, Endpoint: fcm.Endpoint, TokenURL: fcm.TokenURL}
//	apns := pushtest.NewAPNsServer(t) // push.APNsConfig{KeyFile: apns.KeyFile, KeyID: apns.KeyID, TeamID: apns.TeamID, Topic: apns.Topic, Endpoint: apns.Endpoint, CAFile: apns.CAFile}
//
// FCM takes any registration token; APNs any hex device token. Knobs on
// every server: FailNext(n, status) (429 and 503 carry Retry-After:
// RetryAfter); Gone (Web Push, 410), Unregistered and InvalidToken (FCM),
// Unregistered and BadDeviceToken (APNs); RevokeTokens (FCM: 401 for the
// access tokens issued so far) and ExpireTokens (APNs:
// ExpiredProviderToken).
//
// Every server is closed by t.Cleanup. The package starts no goroutine of
// its own beyond those of net/http/httptest.
package pushtest
