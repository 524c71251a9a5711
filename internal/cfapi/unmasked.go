package cfapi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
)

// wrangler sends its one client message, {"debug":false}, in an unmasked
// frame (it passes mask: false to its WebSocket library), which RFC 6455
// §5.1 tells servers to refuse and every conforming library does, ending
// the session at once. Cloudflare accepts it, so the tail session does
// too: the connection is read through maskFrames, which gives each
// unmasked client frame an all-zero masking key, a no-op for the payload.
// Masking protects intermediaries from scripts in browsers; a tail is
// reachable only through its unguessable one-time URL.

// maskingWriter hands out hijacked connections whose reads pass through
// maskFrames.
type maskingWriter struct {
	http.ResponseWriter
}

func (w maskingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	c := &maskedConn{Conn: conn, r: &maskFrames{r: io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), conn)}}
	return c, bufio.NewReadWriter(bufio.NewReader(c), brw.Writer), nil
}

type maskedConn struct {
	net.Conn
	r io.Reader
}

func (c *maskedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// maskFrames passes a stream of client WebSocket frames through, adding a
// zero masking key to each frame that has none.
type maskFrames struct {
	r       io.Reader
	pending []byte // header bytes not yet returned
	payload uint64 // payload bytes of the current frame not yet returned
}

func (m *maskFrames) Read(p []byte) (int, error) {
	for len(m.pending) == 0 && m.payload == 0 {
		if err := m.nextHeader(); err != nil {
			return 0, err
		}
	}
	if len(m.pending) > 0 {
		n := copy(p, m.pending)
		m.pending = m.pending[n:]
		return n, nil
	}
	if uint64(len(p)) > m.payload {
		p = p[:m.payload]
	}
	n, err := m.r.Read(p)
	m.payload -= uint64(n)
	return n, err
}

// nextHeader reads one frame header into pending, masked.
func (m *maskFrames) nextHeader() error {
	h := make([]byte, 2, 14)
	if _, err := io.ReadFull(m.r, h); err != nil {
		return err
	}
	masked := h[1]&0x80 != 0
	h[1] |= 0x80
	var ext int
	switch h[1] & 0x7f {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	rest := ext
	if masked {
		rest += 4
	}
	h = h[:2+rest]
	if _, err := io.ReadFull(m.r, h[2:]); err != nil {
		return err
	}
	switch ext {
	case 0:
		m.payload = uint64(h[1] & 0x7f)
	case 2:
		m.payload = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 8:
		m.payload = binary.BigEndian.Uint64(h[2:10])
	}
	if !masked {
		h = append(h, 0, 0, 0, 0)
	}
	m.pending = h
	return nil
}
