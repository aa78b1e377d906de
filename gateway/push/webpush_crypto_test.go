package push

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"testing"
)

// TestEncryptRecordMatchesRFC8291AppendixA reproduces the example of RFC
// 8291 Appendix A byte for byte from its keys, auth secret and salt.
func TestEncryptRecordMatchesRFC8291AppendixA(t *testing.T) {
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	as, err := ecdh.P256().NewPrivateKey(b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := as.PublicKey().Bytes(), b64("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"); !bytes.Equal(got, want) {
		t.Fatalf("application server public key %x, want %x", got, want)
	}
	got, err := encryptRecord([]byte("When I grow up, I want to be a watermelon"),
		b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
		b64("BTBZMqHH6r4Tts7J_aSIgg"), as, b64("DGv6ra1nlYgDCS1FRnbzlw"))
	if err != nil {
		t.Fatal(err)
	}
	want := "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml" +
		"mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT" +
		"pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
	if s := base64.RawURLEncoding.EncodeToString(got); s != want {
		t.Fatalf("body\n got %s\nwant %s", s, want)
	}
}

func TestEncryptRecordRefusesOversizePlaintext(t *testing.T) {
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	_, err := encryptWebPush(make([]byte, maxPlaintext+1), ua.PublicKey().Bytes(), make([]byte, 16))
	if err == nil {
		t.Fatal("no error for a plaintext over the limit")
	}
	body, err := encryptWebPush(make([]byte, maxPlaintext), ua.PublicKey().Bytes(), make([]byte, 16))
	if err != nil || len(body) != maxPushBody {
		t.Fatalf("largest plaintext: %d bytes, %v; want %d", len(body), err, maxPushBody)
	}
}

func BenchmarkWebPushEncrypt(b *testing.B) {
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	plaintext := bytes.Repeat([]byte("x"), 512)
	auth := make([]byte, 16)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encryptWebPush(plaintext, ua.PublicKey().Bytes(), auth); err != nil {
			b.Fatal(err)
		}
	}
}
