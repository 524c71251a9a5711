package workerhost

import (
	"bytes"
	"crypto/hmac"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"
	"unicode/utf16"

	"github.com/dop251/goja"
)

// The natives of the nodejs_compat modules node:crypto and node:util
// (js/node.js): incremental hashes and HMACs, and Node's string encodings.

// nodeHashes are node:crypto's digest names the host knows, lower-cased,
// with the Web Crypto name hashFunc takes.
var nodeHashes = map[string]string{
	"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512",
	"rsa-md5": "MD5", "rsa-sha1": "SHA-1", "rsa-sha256": "SHA-256", "rsa-sha384": "SHA-384", "rsa-sha512": "SHA-512",
}

// nodeHash is a Hash or Hmac of node:crypto, held by JavaScript as an
// opaque object.
type nodeHash struct {
	h    hash.Hash
	name string
}

// hostHashNew implements host.hashNew(algorithm, key): a hash, or an HMAC
// when key (a Uint8Array) is given; null for an unknown algorithm.
func (rt *jsRuntime) hostHashNew(c goja.FunctionCall) goja.Value {
	name, ok := nodeHashes[strings.ToLower(c.Argument(0).String())]
	if !ok {
		return goja.Null()
	}
	hf := hashFunc(name)
	h := &nodeHash{name: name}
	if goja.IsUndefined(c.Argument(1)) {
		h.h = hf()
	} else {
		h.h = hmac.New(hf, rt.argBytes(c, 1))
	}
	return rt.vm.ToValue(h)
}

// hostHashUpdate implements host.hashUpdate(h, bytes).
func (rt *jsRuntime) hostHashUpdate(c goja.FunctionCall) goja.Value {
	handleArg[*nodeHash](rt, c, "hash").h.Write(rt.argBytes(c, 1))
	return goja.Undefined()
}

// hostHashDigest implements host.hashDigest(h): the digest, a Uint8Array.
func (rt *jsRuntime) hostHashDigest(c goja.FunctionCall) goja.Value {
	return rt.bytes(handleArg[*nodeHash](rt, c, "hash").h.Sum(nil))
}

// hostHashCopy implements host.hashCopy(h): a hash in the same state.
func (rt *jsRuntime) hostHashCopy(c goja.FunctionCall) goja.Value {
	h := handleArg[*nodeHash](rt, c, "hash")
	m, ok := h.h.(encoding.BinaryMarshaler)
	if !ok {
		rt.throwType("this hash cannot be copied")
	}
	state, err := m.MarshalBinary()
	if err != nil {
		rt.throwType("this hash cannot be copied: %v", err)
	}
	cp := hashFunc(h.name)()
	if err := cp.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		rt.throwType("this hash cannot be copied: %v", err)
	}
	return rt.vm.ToValue(&nodeHash{h: cp, name: h.name})
}

// hostEncodeBytes implements host.encodeBytes(bytes, encoding): bytes as a
// string in one of Node's encodings, or null for an encoding it does not
// know.
func (rt *jsRuntime) hostEncodeBytes(c goja.FunctionCall) goja.Value {
	b := rt.argBytes(c, 0)
	switch strings.ToLower(c.Argument(1).String()) {
	case "hex":
		return rt.vm.ToValue(hex.EncodeToString(b))
	case "base64":
		return rt.vm.ToValue(base64.StdEncoding.EncodeToString(b))
	case "base64url":
		return rt.vm.ToValue(base64.RawURLEncoding.EncodeToString(b))
	case "latin1", "binary":
		return latin1(rt.vm, b)
	case "ascii":
		a := make([]byte, len(b))
		for i, x := range b {
			a[i] = x & 0x7f
		}
		return rt.vm.ToValue(string(a))
	case "utf8", "utf-8":
		return rt.vm.ToValue(decodeUTF8(b))
	case "utf16le", "utf-16le", "ucs2", "ucs-2":
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		return goja.StringFromUTF16(u)
	}
	return goja.Null()
}

// hostDecodeString implements host.decodeString(string, encoding): the
// bytes of a string in one of Node's encodings, or null for an encoding
// it does not know. Like Node, it stops at the first character that is not
// hex or base64.
func (rt *jsRuntime) hostDecodeString(c goja.FunctionCall) goja.Value {
	v := c.Argument(0)
	switch strings.ToLower(c.Argument(1).String()) {
	case "utf8", "utf-8":
		return rt.bytes([]byte(v.String()))
	case "hex":
		s := v.String()
		n := 0
		for n+1 < len(s) && isHex(s[n]) && isHex(s[n+1]) {
			n += 2
		}
		b, _ := hex.DecodeString(s[:n])
		return rt.bytes(b)
	case "base64", "base64url":
		// Node decodes either alphabet, skips what is not base64 and
		// stops at the padding.
		s, _, _ := strings.Cut(v.String(), "=")
		s = strings.Map(func(r rune) rune {
			switch {
			case r == '-':
				return '+'
			case r == '_':
				return '/'
			case r == '+' || r == '/' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
				return r
			}
			return -1
		}, s)
		if len(s)%4 == 1 {
			s = s[:len(s)-1]
		}
		b, _ := base64.RawStdEncoding.DecodeString(s)
		return rt.bytes(b)
	case "latin1", "binary", "ascii":
		u := utf16.Encode([]rune(v.String()))
		b := make([]byte, len(u))
		for i, x := range u {
			b[i] = byte(x)
		}
		return rt.bytes(b)
	case "utf16le", "utf-16le", "ucs2", "ucs-2":
		u := utf16.Encode([]rune(v.String()))
		b := make([]byte, 2*len(u))
		for i, x := range u {
			b[2*i], b[2*i+1] = byte(x), byte(x>>8)
		}
		return rt.bytes(b)
	}
	return goja.Null()
}

// hostCompareBytes implements host.compareBytes(a, b): bytes.Compare.
func (rt *jsRuntime) hostCompareBytes(c goja.FunctionCall) goja.Value {
	return rt.vm.ToValue(bytes.Compare(rt.argBytes(c, 0), rt.argBytes(c, 1)))
}

// hostIndexBytes implements host.indexBytes(haystack, needle, from): the
// index of needle in haystack at or after from, or -1.
func (rt *jsRuntime) hostIndexBytes(c goja.FunctionCall) goja.Value {
	h, n := rt.argBytes(c, 0), rt.argBytes(c, 1)
	from := int(c.Argument(2).ToInteger())
	if from < 0 || from > len(h) {
		return rt.vm.ToValue(-1)
	}
	i := bytes.Index(h[from:], n)
	if i < 0 {
		return rt.vm.ToValue(-1)
	}
	return rt.vm.ToValue(from + i)
}
