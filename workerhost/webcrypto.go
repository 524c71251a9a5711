package workerhost

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"encoding/base64"

	"github.com/dop251/goja"
)

// The WebCrypto natives beyond digests and HMAC (host.go): AES-GCM, PBKDF2
// and HKDF, for js/prelude.js's SubtleCrypto, which has checked the
// arguments.

// hostAESGCM implements host.aesGcm(encrypt, key, iv, data, additionalData,
// tagBytes): the ciphertext with its tag appended, or the plaintext; null
// when decryption fails.
func (rt *jsRuntime) hostAESGCM(c goja.FunctionCall) goja.Value {
	block, err := aes.NewCipher(rt.argBytes(c, 1))
	if err != nil {
		rt.throwType("%v", err)
	}
	iv := rt.argBytes(c, 2)
	if len(iv) == 0 {
		return goja.Null()
	}
	// Go has GCM with a 12-byte nonce and any tag of 12 to 16 bytes, or
	// another nonce with a 16-byte tag: other combinations fail.
	var gcm cipher.AEAD
	switch tag := int(c.Argument(5).ToInteger()); {
	case len(iv) == 12:
		gcm, err = cipher.NewGCMWithTagSize(block, tag)
	case tag == 16:
		gcm, err = cipher.NewGCMWithNonceSize(block, len(iv))
	default:
		return goja.Null()
	}
	if err != nil {
		return goja.Null()
	}
	data, aad := rt.argBytes(c, 3), rt.argBytes(c, 4)
	if c.Argument(0).ToBoolean() {
		return rt.vm.ToValue(rt.vm.NewArrayBuffer(gcm.Seal(nil, iv, data, aad)))
	}
	out, err := gcm.Open(nil, iv, data, aad)
	if err != nil {
		return goja.Null()
	}
	return rt.vm.ToValue(rt.vm.NewArrayBuffer(out))
}

// hostPBKDF2 implements host.pbkdf2(hash, password, salt, iterations,
// bytes).
func (rt *jsRuntime) hostPBKDF2(c goja.FunctionCall) goja.Value {
	out, err := pbkdf2.Key(hashFunc(c.Argument(0).String()), string(rt.argBytes(c, 1)), rt.argBytes(c, 2),
		int(c.Argument(3).ToInteger()), int(c.Argument(4).ToInteger()))
	if err != nil {
		rt.throwType("%v", err)
	}
	return rt.vm.ToValue(rt.vm.NewArrayBuffer(out))
}

// hostHKDF implements host.hkdf(hash, key, salt, info, bytes).
func (rt *jsRuntime) hostHKDF(c goja.FunctionCall) goja.Value {
	out, err := hkdf.Key(hashFunc(c.Argument(0).String()), rt.argBytes(c, 1), rt.argBytes(c, 2),
		string(rt.argBytes(c, 3)), int(c.Argument(4).ToInteger()))
	if err != nil {
		rt.throwType("%v", err)
	}
	return rt.vm.ToValue(rt.vm.NewArrayBuffer(out))
}

// hostBase64urlEncode implements host.base64urlEncode(bytes), for JWKs.
func (rt *jsRuntime) hostBase64urlEncode(c goja.FunctionCall) goja.Value {
	return rt.vm.ToValue(base64.RawURLEncoding.EncodeToString(rt.argBytes(c, 0)))
}
