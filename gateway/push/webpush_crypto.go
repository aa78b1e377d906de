package push

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// RFC 8291 / RFC 8188 framing. One record carries the whole message, so
// the record size only has to be larger than it; 4096 is what browsers
// expect and what the RFC's example uses.
const (
	recordSize   = 4096
	saltLen      = 16
	keyLen       = 65 // an uncompressed P-256 point
	headerLen    = saltLen + 4 + 1 + keyLen
	gcmTagLen    = 16
	lastRecord   = 0x02 // the padding delimiter of the last record
	authInfo     = "WebPush: info\x00"
	cekInfo      = "Content-Encoding: aes128gcm\x00"
	nonceInfo    = "Content-Encoding: nonce\x00"
	maxPushBody  = 4096 // RFC 8030 section 7.2: what every push service accepts
	maxPlaintext = maxPushBody - headerLen - gcmTagLen - 1
)

// encryptWebPush encrypts plaintext for a subscription with a fresh
// ephemeral key and salt.
func encryptWebPush(plaintext, uaPublic, authSecret []byte) ([]byte, error) {
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("push: ephemeral key: %w", err)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("push: salt: %w", err)
	}
	return encryptRecord(plaintext, uaPublic, authSecret, as, salt)
}

// encryptRecord is RFC 8291 section 3 with the keys and salt given, so that
// the RFC's Appendix A example can be reproduced byte for byte.
func encryptRecord(plaintext, uaPublic, authSecret []byte, as *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(plaintext) > maxPlaintext {
		return nil, fmt.Errorf("push: web push plaintext of %d bytes exceeds %d", len(plaintext), maxPlaintext)
	}
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("push: subscription key p256dh: %w", err)
	}
	cek, nonce, err := deriveContentKeys(as, ua, authSecret, salt)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("push: aes: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("push: gcm: %w", err)
	}
	out := make([]byte, headerLen, headerLen+len(plaintext)+1+gcmTagLen)
	copy(out, salt)
	binary.BigEndian.PutUint32(out[saltLen:], recordSize)
	out[saltLen+4] = keyLen
	copy(out[saltLen+5:], as.PublicKey().Bytes())
	record := append(append(make([]byte, 0, len(plaintext)+1+gcmTagLen), plaintext...), lastRecord)
	return gcm.Seal(out, nonce, record, nil), nil
}

// deriveContentKeys is the key schedule of RFC 8291 section 3.4: the ECDH
// secret mixed with the auth secret into the input keying material, then
// RFC 8188's content encryption key and nonce from it and the salt.
func deriveContentKeys(as *ecdh.PrivateKey, ua *ecdh.PublicKey, authSecret, salt []byte) (cek, nonce []byte, err error) {
	shared, err := as.ECDH(ua)
	if err != nil {
		return nil, nil, fmt.Errorf("push: ecdh: %w", err)
	}
	info := authInfo + string(ua.Bytes()) + string(as.PublicKey().Bytes())
	ikm, err := hkdf.Key(sha256.New, shared, authSecret, info, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("push: hkdf ikm: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, nil, fmt.Errorf("push: hkdf prk: %w", err)
	}
	if cek, err = hkdf.Expand(sha256.New, prk, cekInfo, 16); err != nil {
		return nil, nil, fmt.Errorf("push: hkdf cek: %w", err)
	}
	if nonce, err = hkdf.Expand(sha256.New, prk, nonceInfo, 12); err != nil {
		return nil, nil, fmt.Errorf("push: hkdf nonce: %w", err)
	}
	return cek, nonce, nil
}
