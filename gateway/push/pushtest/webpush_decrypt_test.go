package pushtest

import (
	"crypto/ecdh"
	"encoding/base64"
	"testing"
)

// TestDecryptRFC8291AppendixA checks the fake's own decryption against the
// RFC's example, apart from the sender's encryption.
func TestDecryptRFC8291AppendixA(t *testing.T) {
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ua, err := ecdh.P256().NewPrivateKey(b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	body := b64("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
		"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	got, err := decryptAES128GCM(body, ua, b64("BTBZMqHH6r4Tts7J_aSIgg"))
	if err != nil || string(got) != "When I grow up, I want to be a watermelon" {
		t.Fatalf("%q, %v", got, err)
	}
	body[len(body)-1] ^= 1
	if _, err := decryptAES128GCM(body, ua, b64("BTBZMqHH6r4Tts7J_aSIgg")); err == nil {
		t.Fatal("a tampered body decrypted")
	}
}
