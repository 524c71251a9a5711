package workerhost

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/transform"
)

// The Encoding Standard's decoders for TextDecoder (js/prelude.js): UTF-8
// and UTF-16 written here after the standard's algorithms, the legacy
// encodings from golang.org/x/text, whose htmlindex holds the standard's
// labels.

// hostEncodingName implements host.encodingName(label): the name of the
// encoding a label (already stripped of ASCII whitespace) names, or null
// for none or for "replacement", which TextDecoder refuses.
func (rt *jsRuntime) hostEncodingName(c goja.FunctionCall) goja.Value {
	label := c.Argument(0).String()
	for i := 0; i < len(label); i++ {
		if label[i] >= utf8.RuneSelf {
			return goja.Null()
		}
	}
	e, err := htmlindex.Get(label)
	if err != nil {
		return goja.Null()
	}
	name, err := htmlindex.Name(e)
	if err != nil || name == "replacement" {
		return goja.Null()
	}
	return rt.vm.ToValue(name)
}

// errDecode is a decoding error in fatal mode.
var errDecode = errors.New("decoding error")

// hostTextDecode implements host.textDecode(name, bytes, fatal, stream):
// it decodes bytes with the encoding name and returns [text, keep], keep
// being how many bytes at the end stream mode leaves for the next call
// (an incomplete sequence). In fatal mode an error throws a TypeError.
func (rt *jsRuntime) hostTextDecode(c goja.FunctionCall) goja.Value {
	name := c.Argument(0).String()
	b := rt.argBytes(c, 1)
	fatal, stream := c.Argument(2).ToBoolean(), c.Argument(3).ToBoolean()
	var text goja.Value
	keep := 0
	var err error
	switch name {
	case "utf-8":
		var s string
		var bad bool
		s, keep, bad = utf8Decode(b, stream)
		if bad && fatal {
			err = errDecode
		}
		text = rt.vm.ToValue(s)
	case "utf-16le", "utf-16be":
		var units []uint16
		var bad bool
		units, keep, bad = utf16Decode(b, name == "utf-16be", stream)
		if bad && fatal {
			err = errDecode
		}
		text = goja.StringFromUTF16(units)
	default:
		var s string
		s, keep, err = legacyDecode(name, b, fatal, stream)
		text = rt.vm.ToValue(s)
	}
	if err != nil {
		rt.throwType("The encoded data was not valid for encoding %s", name)
	}
	return rt.vm.NewArray(text, keep)
}

// utf8Decode is the Encoding Standard's UTF-8 decoder: each maximal
// invalid subsequence becomes one U+FFFD, and bad reports whether there was
// one. In stream mode an incomplete sequence at the end is left undecoded,
// its length returned as keep.
func utf8Decode(b []byte, stream bool) (s string, keep int, bad bool) {
	if utf8.Valid(b) {
		return string(b), 0, false
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	needed, seen, start := 0, 0, 0
	var cp rune
	lower, upper := byte(0x80), byte(0xBF)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if needed == 0 {
			start = i
			if c <= 0x7F {
				sb.WriteByte(c)
				continue
			}
			needed, cp, lower, upper = utf8Lead(c)
			if needed == 0 {
				sb.WriteRune(utf8.RuneError)
				bad = true
			}
			continue
		}
		if c < lower || c > upper {
			// The byte ends the bad sequence and is decoded afresh.
			needed, seen, cp = 0, 0, 0
			lower, upper = 0x80, 0xBF
			sb.WriteRune(utf8.RuneError)
			bad = true
			i--
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(c&0x3F)
		seen++
		if seen == needed {
			sb.WriteRune(cp)
			needed, seen, cp = 0, 0, 0
		}
	}
	if needed != 0 {
		if stream {
			return sb.String(), len(b) - start, bad
		}
		sb.WriteRune(utf8.RuneError)
		bad = true
	}
	return sb.String(), 0, bad
}

// utf8Leads are the lead bytes above 0x7F of well-formed UTF-8 (the
// Unicode Standard's table 3-7): how many continuation bytes follow, the
// payload bits of the lead, and the bounds of the first continuation
// byte, which exclude overlong forms, surrogates and code points past
// U+10FFFF.
var utf8Leads = [...]struct {
	first, last  byte
	needed       int
	mask         byte
	lower, upper byte
}{
	{0xC2, 0xDF, 1, 0x1F, 0x80, 0xBF},
	{0xE0, 0xE0, 2, 0x0F, 0xA0, 0xBF},
	{0xE1, 0xEC, 2, 0x0F, 0x80, 0xBF},
	{0xED, 0xED, 2, 0x0F, 0x80, 0x9F},
	{0xEE, 0xEF, 2, 0x0F, 0x80, 0xBF},
	{0xF0, 0xF0, 3, 0x07, 0x90, 0xBF},
	{0xF1, 0xF3, 3, 0x07, 0x80, 0xBF},
	{0xF4, 0xF4, 3, 0x07, 0x80, 0x8F},
}

// utf8Lead classifies a byte above 0x7F; needed is 0 if it cannot lead.
func utf8Lead(c byte) (needed int, cp rune, lower, upper byte) {
	for _, l := range utf8Leads {
		if c >= l.first && c <= l.last {
			return l.needed, rune(c & l.mask), l.lower, l.upper
		}
	}
	return 0, 0, 0x80, 0xBF
}

// utf16Decode decodes UTF-16 code units as workerd does: surrogates are
// passed through unpaired or not, and only an odd trailing byte is an
// error (U+FFFD). In stream mode an odd byte or a trailing lead surrogate
// is left for the next call.
func utf16Decode(b []byte, bigEndian, stream bool) (units []uint16, keep int, bad bool) {
	n := len(b) &^ 1
	units = make([]uint16, 0, n/2+1)
	for i := 0; i < n; i += 2 {
		if bigEndian {
			units = append(units, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			units = append(units, uint16(b[i])|uint16(b[i+1])<<8)
		}
	}
	if stream {
		keep = len(b) - n
		if l := len(units); l > 0 && units[l-1] >= 0xD800 && units[l-1] <= 0xDBFF {
			units = units[:l-1]
			keep += 2
		}
		return units, keep, false
	}
	if n < len(b) {
		units = append(units, utf8.RuneError)
		bad = true
	}
	return units, 0, bad
}

// legacyDecode decodes with one of golang.org/x/text's encodings, which
// replace what they cannot decode by U+FFFD: fatal mode reports an error
// for any U+FFFD. Each call starts a fresh decoder, so the escape state of
// iso-2022-jp does not carry over between streamed chunks.
func legacyDecode(name string, b []byte, fatal, stream bool) (string, int, error) {
	if name == "windows-1252" {
		return windows1252(b), 0, nil
	}
	e, err := htmlindex.Get(name)
	if err != nil {
		return "", 0, err
	}
	out, keep, err := transformAll(e, b, !stream)
	if err != nil {
		return "", 0, err
	}
	if fatal && strings.ContainsRune(out, utf8.RuneError) {
		return "", 0, errDecode
	}
	return out, keep, nil
}

func transformAll(e encoding.Encoding, src []byte, atEOF bool) (string, int, error) {
	dec := e.NewDecoder()
	var out []byte
	buf := make([]byte, 3*len(src)+16)
	for {
		nDst, nSrc, err := dec.Transform(buf, src, atEOF)
		out = append(out, buf[:nDst]...)
		src = src[nSrc:]
		switch {
		case errors.Is(err, transform.ErrShortDst):
			continue
		case errors.Is(err, transform.ErrShortSrc):
			return string(out), len(src), nil
		case err != nil:
			return "", 0, err
		}
		return string(out), 0, nil
	}
}

// hostEncodeInto implements host.encodeInto(string, dest): TextEncoder's
// encodeInto, writing the UTF-8 of as many whole code points as fit and
// returning [read (UTF-16 code units), written (bytes)]. A lone surrogate
// reaches Go as U+FFFD, as the standard converts it.
func (rt *jsRuntime) hostEncodeInto(c goja.FunctionCall) goja.Value {
	s := c.Argument(0).String()
	dst := rt.argBytes(c, 1)
	read, written := 0, 0
	for _, r := range s {
		n := utf8.RuneLen(r)
		if written+n > len(dst) {
			break
		}
		utf8.EncodeRune(dst[written:], r)
		written += n
		read++
		if r >= 0x10000 {
			read++
		}
	}
	return rt.vm.NewArray(read, written)
}

// windows1252High maps the bytes 0x80–0x9F of windows-1252 (the
// standard's index: the five bytes it leaves unassigned stand for the C1
// controls of the same value); the other bytes are Latin-1.
var windows1252High = [32]rune{
	0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
	0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
}

// windows1252 decodes windows-1252 (also what "latin1" and "ascii"
// name), which decodes every byte.
func windows1252(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) * 2)
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xA0:
			sb.WriteRune(windows1252High[c-0x80])
		default:
			sb.WriteRune(rune(c))
		}
	}
	return sb.String()
}
