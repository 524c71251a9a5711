package workerhost

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// maxFormParts bounds the parts formData() accepts from a multipart body.
const maxFormParts = 1000

// setter returns a function setting a property of o, an ordinary object
// of the host's, to a native function; o refusing it is a bug.
func setter(o *goja.Object) func(name string, fn func(goja.FunctionCall) goja.Value) {
	return func(name string, fn func(goja.FunctionCall) goja.Value) {
		if err := o.Set(name, fn); err != nil {
			panic(err)
		}
	}
}

// hostObject builds the object of native functions the prelude receives.
func (rt *jsRuntime) hostObject() *goja.Object {
	vm := rt.vm
	h := vm.NewObject()
	set := setter(h)
	set("log", rt.hostLog)
	set("encodeUTF8", func(c goja.FunctionCall) goja.Value {
		return vm.ToValue(vm.NewArrayBuffer([]byte(c.Argument(0).String())))
	})
	set("decodeUTF8", rt.hostDecodeUTF8)
	set("encodingName", rt.hostEncodingName)
	set("textDecode", rt.hostTextDecode)
	set("encodeInto", rt.hostEncodeInto)
	set("atob", rt.hostAtob)
	set("btoa", rt.hostBtoa)
	set("base64urlDecode", func(c goja.FunctionCall) goja.Value {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c.Argument(0).String(), "="))
		if err != nil {
			rt.throwType("invalid base64url data")
		}
		return vm.ToValue(vm.NewArrayBuffer(b))
	})
	set("randomFill", func(c goja.FunctionCall) goja.Value {
		_, _ = rand.Read(rt.argBytes(c, 0))
		return goja.Undefined()
	})
	set("randomUUID", func(goja.FunctionCall) goja.Value { return vm.ToValue(randomUUID()) })
	set("digest", func(c goja.FunctionCall) goja.Value {
		hf := hashFunc(c.Argument(0).String())
		if hf == nil {
			rt.throwType("unsupported digest %q", c.Argument(0).String())
		}
		d := hf()
		d.Write(rt.argBytes(c, 1))
		return vm.ToValue(vm.NewArrayBuffer(d.Sum(nil)))
	})
	set("hmac", func(c goja.FunctionCall) goja.Value {
		hf := hashFunc(c.Argument(0).String())
		if hf == nil {
			rt.throwType("unsupported hash %q", c.Argument(0).String())
		}
		m := hmac.New(hf, rt.argBytes(c, 1))
		m.Write(rt.argBytes(c, 2))
		return vm.ToValue(vm.NewArrayBuffer(m.Sum(nil)))
	})
	set("timingSafeEqual", func(c goja.FunctionCall) goja.Value {
		return vm.ToValue(subtle.ConstantTimeCompare(rt.argBytes(c, 0), rt.argBytes(c, 1)) == 1)
	})
	set("parseMultipart", rt.hostParseMultipart)
	set("concat", rt.hostConcat)
	set("aesGcm", rt.hostAESGCM)
	set("pbkdf2", rt.hostPBKDF2)
	set("hkdf", rt.hostHKDF)
	set("base64urlEncode", rt.hostBase64urlEncode)
	set("hashNew", rt.hostHashNew)
	set("hashUpdate", rt.hostHashUpdate)
	set("hashDigest", rt.hostHashDigest)
	set("hashCopy", rt.hostHashCopy)
	set("encodeBytes", rt.hostEncodeBytes)
	set("decodeString", rt.hostDecodeString)
	set("compareBytes", rt.hostCompareBytes)
	set("indexBytes", rt.hostIndexBytes)
	set("zlibNew", rt.hostZlibNew)
	set("zlibWrite", rt.hostZlibWrite)
	set("zlibEnd", rt.hostZlibEnd)
	set("arrayFromTyped", rt.hostArrayFromTyped)
	set("urlParse", rt.hostURLParse)
	set("urlSet", rt.hostURLSet)
	set("formParse", rt.hostFormParse)
	set("formSerialize", rt.hostFormSerialize)
	set("usv", rt.hostUSV)
	set("setTimer", rt.hostSetTimer)
	set("clearTimer", rt.hostClearTimer)
	set("waitUntil", func(c goja.FunctionCall) goja.Value {
		ex := rt.requestOnly("ctx.waitUntil()")
		if p, ok := c.Argument(0).Export().(*goja.Promise); ok {
			ex.waitUntil = append(ex.waitUntil, p)
		}
		return goja.Undefined()
	})
	set("passThroughOnException", func(goja.FunctionCall) goja.Value {
		rt.requestOnly("ctx.passThroughOnException()").passThrough = true
		return goja.Undefined()
	})
	set("assertRequest", func(c goja.FunctionCall) goja.Value {
		rt.requestOnly(c.Argument(0).String())
		return goja.Undefined()
	})
	set("header", func(c goja.FunctionCall) goja.Value {
		if rt.out != nil {
			rt.out.headers = append(rt.out.headers, c.Argument(0).String(), c.Argument(1).String())
		}
		return goja.Undefined()
	})
	set("headers", rt.hostHeaders)
	set("respond", rt.hostRespond)
	set("readRequestBody", rt.hostReadRequestBody)
	set("fetch", rt.hostFetch)
	set("abortFetch", rt.hostAbortFetch)
	return h
}

// hostRespond takes the description of the Response a handler returned.
// It checks and converts everything here, inside the call into JavaScript,
// so that a Response whose internals a script has rewritten throws a
// JavaScript error rather than reach net/http as an odd status or body.
func (rt *jsRuntime) hostRespond(c goja.FunctionCall) goja.Value {
	status := c.Argument(0).ToInteger()
	if status < 200 || status > 599 {
		panic(rt.vm.NewGoError(fmt.Errorf("RangeError: Responses may only be constructed with status codes in the range 200 to 599, inclusive (got %d)", status)))
	}
	out := rt.out
	if out == nil {
		rt.throwType("no Response is being described")
	}
	out.status = int(status)
	if t := c.Argument(3); !goja.IsUndefined(t) && !goja.IsNull(t) {
		out.statusText, out.hasStatusText = t.String(), true
	}
	out.kind = c.Argument(1).ToInteger()
	body := c.Argument(2)
	switch out.kind {
	case 0:
	case 1:
		switch v := body.Export().(type) {
		case []byte:
			out.bytes = v
		case string:
			out.text, out.isText = v, true
		default:
			rt.throwType("a Response body must be a string or bytes")
		}
	case 2:
		if _, ok := body.(*goja.Object); !ok {
			rt.throwType("a streamed Response body needs a reader")
		}
		out.reader = body
	default:
		rt.throwType("unknown Response body kind %d", out.kind)
	}
	out.ok = true
	return goja.Undefined()
}

// requestOnly returns the current exchange, or throws as workerd does when
// I/O is attempted from the script's global scope.
func (rt *jsRuntime) requestOnly(what string) *exchange {
	if rt.ex == nil {
		panic(rt.vm.NewGoError(fmt.Errorf("disallowed operation called within global scope: %s can only be used while handling a request", what)))
	}
	if rt.ex.closed {
		panic(rt.vm.NewGoError(fmt.Errorf("cannot perform I/O on behalf of a request that has ended: %s", what)))
	}
	return rt.ex
}

// argBytes returns argument i, a Uint8Array, as a slice sharing its memory.
func (rt *jsRuntime) argBytes(c goja.FunctionCall, i int) []byte {
	switch v := c.Argument(i).Export().(type) {
	case []byte:
		return v
	case goja.ArrayBuffer:
		return v.Bytes()
	}
	rt.throwType("expected a Uint8Array")
	return nil
}

func hashFunc(name string) func() hash.Hash {
	switch name {
	case "SHA-1":
		return sha1.New
	case "SHA-256":
		return sha256.New
	case "SHA-384":
		return sha512.New384
	case "SHA-512":
		return sha512.New
	case "MD5":
		return md5.New
	}
	return nil
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (rt *jsRuntime) hostLog(c goja.FunctionCall) goja.Value {
	level, msg := c.Argument(0).String(), c.Argument(1).String()
	if rt.ex != nil {
		rt.ex.log(level, msg)
		return goja.Undefined()
	}
	// Top-level code logs while a runtime is created, outside any request.
	(&exchange{w: rt.w}).log(level, msg)
	return goja.Undefined()
}

// hostDecodeUTF8 decodes bytes; with stream set it leaves an incomplete
// trailing sequence undecoded and reports its length, for the next call.
func (rt *jsRuntime) hostDecodeUTF8(c goja.FunctionCall) goja.Value {
	b := rt.argBytes(c, 0)
	fatal, stream := c.Argument(1).ToBoolean(), c.Argument(2).ToBoolean()
	keep := 0
	if stream {
		keep = incompleteSuffix(b)
		b = b[:len(b)-keep]
	} else if fatal && !utf8.Valid(b) {
		rt.throwType("The encoded data was not valid for encoding utf-8")
	}
	if stream && fatal && !utf8.Valid(b) {
		rt.throwType("The encoded data was not valid for encoding utf-8")
	}
	return rt.vm.NewArray(decodeUTF8(b), keep)
}

// incompleteSuffix returns the length of a UTF-8 sequence cut short at the
// end of b.
func incompleteSuffix(b []byte) int {
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c&0xC0 == 0x80 {
			continue // continuation byte: look further back
		}
		if c >= 0xC0 && !utf8.FullRune(b[len(b)-i:]) {
			return i
		}
		return 0
	}
	return 0
}

// decodeUTF8 decodes b as UTF-8, each invalid sequence becoming U+FFFD
// as the Encoding Standard says.
func decodeUTF8(b []byte) string {
	s, _, _ := utf8Decode(b, false)
	return s
}

// hostAtob implements atob's forgiving base64; it returns null on bad
// input so that the prelude can throw a DOMException.
func (rt *jsRuntime) hostAtob(c goja.FunctionCall) goja.Value {
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\f' || r == '\r' {
			return -1
		}
		return r
	}, c.Argument(0).String())
	if len(s)%4 == 0 {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "="), "=")
	}
	if len(s)%4 == 1 || strings.ContainsAny(s, "=-_") {
		return goja.Null()
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return goja.Null()
	}
	return latin1(rt.vm, b)
}

// latin1 makes the string whose code units are the bytes of b: ASCII
// as it is, anything else through UTF-16 code units, which goja keeps
// as they are (a UTF-8 Go string would be converted back).
func latin1(vm *goja.Runtime, b []byte) goja.Value {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			u := make([]uint16, len(b))
			for i, c := range b {
				u[i] = uint16(c)
			}
			return goja.StringFromUTF16(u)
		}
	}
	return vm.ToValue(string(b))
}

func (rt *jsRuntime) hostBtoa(c goja.FunctionCall) goja.Value {
	s := c.Argument(0).String()
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			return goja.Null()
		}
		b = append(b, byte(r))
	}
	return rt.vm.ToValue(base64.StdEncoding.EncodeToString(b))
}

// hostParseMultipart parses a multipart/form-data body into entries
// [name, value] for fields and [name, null, filename, type, bytes] for files.
func (rt *jsRuntime) hostParseMultipart(c goja.FunctionCall) goja.Value {
	body := rt.argBytes(c, 0)
	_, params, err := mime.ParseMediaType(c.Argument(1).String())
	if err != nil || params["boundary"] == "" {
		rt.throwType("invalid multipart/form-data Content-Type")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out []any
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			// The reader finds no part, rather than failing, in a body
			// without the boundary: that is not multipart/form-data.
			if len(out) == 0 && !bytes.Contains(body, []byte("--"+params["boundary"])) {
				rt.throwType("invalid multipart/form-data body: no boundary %q", params["boundary"])
			}
			break
		}
		if err != nil {
			rt.throwType("invalid multipart/form-data body: %v", err)
		}
		if len(out) >= maxFormParts {
			rt.throwType("multipart/form-data body has more than %d parts", maxFormParts)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			rt.throwType("invalid multipart/form-data body: %v", err)
		}
		name := part.FormName()
		if fn := part.FileName(); fn != "" {
			typ := part.Header.Get("Content-Type")
			if typ == "" {
				typ = "application/octet-stream"
			}
			out = append(out, rt.vm.NewArray(name, nil, fn, typ, rt.vm.NewArrayBuffer(data)))
			continue
		}
		out = append(out, rt.vm.NewArray(name, decodeUTF8(data)))
	}
	return rt.vm.NewArray(out...)
}

// requestBody is the incoming request body, read once when the script
// first asks for it and shared by every reader.
type requestBody struct {
	state    int // 0 unread, 1 reading, 2 done
	data     []byte
	err      error
	tooLarge bool
	waiters  []func()
}

func (rt *jsRuntime) hostReadRequestBody(goja.FunctionCall) goja.Value {
	ex := rt.requestOnly("request body")
	p, resolve, reject := rt.vm.NewPromise()
	settle := func() {
		if ex.body.err != nil {
			_ = reject(rt.vm.NewTypeError(ex.body.err.Error()))
			return
		}
		_ = resolve(rt.bytes(bytes.Clone(ex.body.data)))
	}
	switch ex.body.state {
	case 2:
		settle()
	case 1:
		ex.body.waiters = append(ex.body.waiters, settle)
	default:
		ex.body.state = 1
		ex.body.waiters = append(ex.body.waiters, settle)
		ex.pending++
		limit := ex.w.cfg.MaxBodyBytes
		body := ex.req.Body
		ex.goTask(func() {
			data, err := ex.readBody(body, limit)
			tooLarge := int64(len(data)) > limit
			ex.post(func() error {
				ex.pending--
				ex.body.state = 2
				ex.body.data, ex.body.err = data, err
				if tooLarge {
					ex.body.data = nil
					ex.body.tooLarge = true
					ex.body.err = fmt.Errorf("request body is larger than %d bytes", limit)
				}
				waiters := ex.body.waiters
				ex.body.waiters = nil
				if ex.canceled {
					// The client left, or was too slow (slowBody: 408).
					return &fatalError{errCanceled}
				}
				return ex.rt.enter(func() (goja.Value, error) {
					for _, w := range waiters {
						w()
					}
					return nil, nil
				})
			})
		})
	}
	return rt.vm.ToValue(p)
}
