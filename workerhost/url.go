package workerhost

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
	wurl "github.com/nlnwa/whatwg-url/url"
)

// The URL natives: parsing and the setters are the WHATWG URL Standard's
// basic URL parser, from github.com/nlnwa/whatwg-url, which passes the
// standard's own test data (TestURLTestData); the application/x-www-form-
// urlencoded parser and serializer of URLSearchParams are written here.
// js/url.js builds the URL and URLSearchParams interfaces on them.

// urlParser parses as the URL Standard does, without reporting validation
// errors (which only a failure makes observable).
var urlParser = wurl.NewParser()

// URL components, in the order of the array urlParts returns.
const (
	urlHref = iota
	urlProtocol
	urlUsername
	urlPassword
	urlHost
	urlHostname
	urlPort
	urlPathname
	urlSearch
	urlHash
	urlOrigin
	urlParts
)

// hostURLParse implements host.urlParse(input, base): the components of
// input parsed against base (a string, or undefined for none), or null if
// either fails to parse.
func (rt *jsRuntime) hostURLParse(c goja.FunctionCall) goja.Value {
	input := c.Argument(0).String()
	var u *wurl.Url
	var err error
	if b := c.Argument(1); goja.IsUndefined(b) {
		u, err = urlParser.Parse(input)
	} else {
		u, err = urlParser.ParseRef(b.String(), input)
	}
	if err != nil {
		return goja.Null()
	}
	return rt.urlValue(u)
}

// hostURLSet implements host.urlSet(href, name, value): the components of
// href after setting its name member ("protocol" … "hash", or "query" for
// URLSearchParams' update steps) to value.
func (rt *jsRuntime) hostURLSet(c goja.FunctionCall) goja.Value {
	u, err := urlParser.Parse(c.Argument(0).String())
	if err != nil {
		return goja.Null()
	}
	v := c.Argument(2).String()
	switch c.Argument(1).String() {
	case "protocol":
		u.SetProtocol(v)
	case "username":
		u.SetUsername(v)
	case "password":
		u.SetPassword(v)
	case "host":
		u.SetHost(v)
	case "hostname":
		u.SetHostname(v)
	case "port":
		u.SetPort(v)
	case "pathname":
		u.SetPathname(v)
	case "search", "query":
		u.SetSearch(v)
	case "hash":
		u.SetHash(v)
	}
	return rt.urlValue(u)
}

func (rt *jsRuntime) urlValue(u *wurl.Url) goja.Value {
	parts := [urlParts]any{
		urlHref: u.Href(false), urlProtocol: u.Protocol(), urlUsername: u.Username(), urlPassword: u.Password(),
		urlHost: u.Host(), urlHostname: u.Hostname(), urlPort: u.Port(), urlPathname: u.Pathname(),
		urlSearch: u.Search(), urlHash: u.Hash(), urlOrigin: originOf(u),
	}
	return rt.vm.NewArray(parts[:]...)
}

// originOf serializes u's origin: a tuple for the special schemes but
// file, the origin of the URL in a blob: URL's path if that is http(s),
// and "null", an opaque origin, otherwise.
func originOf(u *wurl.Url) string {
	switch u.Scheme() {
	case "http", "https", "ws", "wss", "ftp":
		return u.Protocol() + "//" + u.Host()
	case "blob":
		if inner, err := urlParser.Parse(u.Pathname()); err == nil && (inner.Scheme() == "http" || inner.Scheme() == "https") {
			return originOf(inner)
		}
	}
	return "null"
}

// hostFormParse implements host.formParse(s): the application/x-www-form-
// urlencoded parser, giving a flat [name, value, ...] array.
func (rt *jsRuntime) hostFormParse(c goja.FunctionCall) goja.Value {
	var out []any
	for seq := range strings.SplitSeq(c.Argument(0).String(), "&") {
		if seq == "" {
			continue
		}
		name, value, _ := strings.Cut(seq, "=")
		out = append(out, formDecode(name), formDecode(value))
	}
	return rt.vm.NewArray(out...)
}

// formDecode replaces '+' by a space, percent-decodes, and decodes the
// bytes as UTF-8 without BOM, replacing invalid sequences.
func formDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return decodeUTF8(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// hostFormSerialize implements host.formSerialize(flat): the
// application/x-www-form-urlencoded serializer of a flat [name, value, ...]
// array. Strings reach Go as UTF-8 with lone surrogates replaced by U+FFFD,
// the USVString conversion the standard asks for.
func (rt *jsRuntime) hostFormSerialize(c goja.FunctionCall) goja.Value {
	o, ok := c.Argument(0).(*goja.Object)
	if !ok {
		rt.throwType("expected an array")
	}
	n := int(o.Get("length").ToInteger())
	var sb strings.Builder
	for i := 0; i+1 < n; i += 2 {
		if i > 0 {
			sb.WriteByte('&')
		}
		formEncode(&sb, o.Get(strconv.Itoa(i)).String())
		sb.WriteByte('=')
		formEncode(&sb, o.Get(strconv.Itoa(i+1)).String())
	}
	return rt.vm.ToValue(sb.String())
}

// formEncode percent-encodes s with the application/x-www-form-urlencoded
// percent-encode set, spaces becoming '+'.
func formEncode(sb *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '*', c == '-', c == '.', c == '_':
			sb.WriteByte(c)
		case c == ' ':
			sb.WriteByte('+')
		default:
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
		}
	}
}

// hostUSV implements host.usv(s): s with its lone surrogates replaced by
// U+FFFD, WebIDL's USVString conversion. goja hands Go such strings
// already converted.
func (rt *jsRuntime) hostUSV(c goja.FunctionCall) goja.Value {
	return rt.vm.ToValue(c.Argument(0).String())
}
