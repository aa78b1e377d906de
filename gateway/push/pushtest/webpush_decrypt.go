package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// decryptAES128GCM is the user agent's side of RFC 8291 over RFC 8188,
// written apart from the sender's code (HKDF by hand from HMAC, the header
// parsed as a browser parses it), so that a shared mistake cannot make both
// sides agree on a wrong encoding. It accepts exactly one record, as Web
// Push messages are.
func decryptAES128GCM(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid of %d bytes, want the 65-byte sender key", idlen)
	}
	keyid, record := body[21:21+idlen], body[21+idlen:]
	if rs < 18 || len(record) > int(rs) {
		return nil, fmt.Errorf("record of %d bytes with rs %d: not a single record", len(record), rs)
	}
	as, err := ecdh.P256().NewPublicKey(keyid)
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	prkKey := hmacSHA256(auth, secret)
	keyInfo := append(append([]byte("WebPush: info\x00"), ua.PublicKey().Bytes()...), keyid...)
	ikm := hmacSHA256(prkKey, append(keyInfo, 1))
	prk := hmacSHA256(salt, ikm)
	cek := hmacSHA256(prk, []byte("Content-Encoding: aes128gcm\x00\x01"))[:16]
	nonce := hmacSHA256(prk, []byte("Content-Encoding: nonce\x00\x01"))[:12]
	return openRecord(record, cek, nonce)
}

func openRecord(record, cek, nonce []byte) ([]byte, error) {
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	padded, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, fmt.Errorf("open record: %w", err)
	}
	// Strip the padding: zeros back to the delimiter, which must be 2 (the
	// last record).
	i := len(padded) - 1
	for i >= 0 && padded[i] == 0 {
		i--
	}
	if i < 0 || padded[i] != 2 {
		return nil, errors.New("no last-record padding delimiter")
	}
	return padded[:i], nil
}

// hmacSHA256 is one HKDF step: Extract is hmac(salt, ikm), and an Expand
// of at most 32 bytes is hmac(prk, info||0x01).
func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
