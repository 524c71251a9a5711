package workerhost

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"

	"github.com/dop251/goja"
)

// CompressionStream and DecompressionStream (js/prelude.js) run on these
// natives: formats "gzip", "deflate" (zlib) and "deflate-raw".

// zstream is the state of one compression or decompression stream. JavaScript
// holds it as an opaque object.
type zstream struct {
	format string
	out    bytes.Buffer
	w      io.WriteCloser // compressing
	in     bytes.Buffer   // decompressing: the input so far
	limit  int64
}

// hostZlibNew implements host.zlibNew(format, decompress), for a format
// the caller has checked.
func (rt *jsRuntime) hostZlibNew(c goja.FunctionCall) goja.Value {
	z := &zstream{format: c.Argument(0).String(), limit: rt.w.cfg.MaxBodyBytes}
	if !c.Argument(1).ToBoolean() {
		switch z.format {
		case "gzip":
			gw := gzip.NewWriter(&z.out)
			gw.OS = 3 // Unix, as zlib writes it
			z.w = gw
		case "deflate":
			z.w = zlib.NewWriter(&z.out)
		default:
			z.w, _ = flate.NewWriter(&z.out, flate.DefaultCompression)
		}
	}
	return rt.vm.ToValue(z)
}

// hostZlibWrite implements host.zlibWrite(z, bytes): the output the chunk
// produces now. Decompression keeps its input until the end: Go's readers
// pull their input and cannot resume after running out of it.
func (rt *jsRuntime) hostZlibWrite(c goja.FunctionCall) goja.Value {
	z := handleArg[*zstream](rt, c, "compression stream")
	b := rt.argBytes(c, 1)
	if z.w == nil {
		if int64(z.in.Len()+len(b)) > z.limit {
			rt.throwType("DecompressionStream input is larger than %d bytes", z.limit)
		}
		z.in.Write(b)
		return rt.bytes(nil)
	}
	if _, err := z.w.Write(b); err != nil {
		rt.throwType("compression failed: %v", err)
	}
	return rt.take(&z.out)
}

// hostZlibEnd implements host.zlibEnd(z): the rest of the output. Corrupt
// or truncated input, or bytes after the end of the compressed data,
// throw a TypeError.
func (rt *jsRuntime) hostZlibEnd(c goja.FunctionCall) goja.Value {
	z := handleArg[*zstream](rt, c, "compression stream")
	if z.w != nil {
		if err := z.w.Close(); err != nil {
			rt.throwType("compression failed: %v", err)
		}
		return rt.take(&z.out)
	}
	src := bytes.NewReader(z.in.Bytes())
	var r io.Reader
	var err error
	switch z.format {
	case "gzip":
		var gr *gzip.Reader
		if gr, err = gzip.NewReader(src); err == nil {
			gr.Multistream(false)
			r = gr
		}
	case "deflate":
		r, err = zlib.NewReader(src)
	default:
		r = flate.NewReader(src)
	}
	if err == nil {
		_, err = io.Copy(&z.out, io.LimitReader(r, z.limit+1))
	}
	switch {
	case err != nil:
		rt.throwType("Decompression failed: %v", err)
	case int64(z.out.Len()) > z.limit:
		rt.throwType("decompressed data is larger than %d bytes", z.limit)
	case src.Len() > 0:
		rt.throwType("Trailing bytes after end of compressed data")
	}
	return rt.take(&z.out)
}

// take returns what buf holds as a new Uint8Array and empties it.
func (rt *jsRuntime) take(buf *bytes.Buffer) goja.Value {
	b := bytes.Clone(buf.Bytes())
	buf.Reset()
	return rt.bytes(b)
}
