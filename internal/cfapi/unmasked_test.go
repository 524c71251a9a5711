package cfapi

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// frame encodes one client frame, masked with key when it is not nil.
func frame(opcode byte, payload []byte, key []byte) []byte {
	out := []byte{0x80 | opcode}
	mask := byte(0)
	if key != nil {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mask|byte(n))
	case n < 1<<16:
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if key == nil {
		return append(out, payload...)
	}
	out = append(out, key...)
	for i, b := range payload {
		out = append(out, b^key[i%4])
	}
	return out
}

func TestMaskFrames(t *testing.T) {
	key := []byte{1, 2, 3, 4}
	debug := []byte(`{"debug":false}`)
	long := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70000)
	var in, want bytes.Buffer
	for _, f := range []struct {
		opcode  byte
		payload []byte
	}{{0x1, debug}, {0x9, []byte("wrangler tail ping")}, {0x1, long}, {0x2, huge}, {0x1, nil}} {
		in.Write(frame(f.opcode, f.payload, nil))                  // as wrangler sends its first message
		in.Write(frame(f.opcode, f.payload, key))                  // as a conforming client does
		want.Write(frame(f.opcode, f.payload, []byte{0, 0, 0, 0})) // what the server reads for the first
		want.Write(frame(f.opcode, f.payload, key))
	}
	// Read in small, odd pieces, as a buffered reader might.
	r := &maskFrames{r: &in}
	var got bytes.Buffer
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("got %d bytes, want %d", got.Len(), want.Len())
	}
}

func TestMaskFramesTruncated(t *testing.T) {
	for _, in := range [][]byte{{0x81}, {0x81, 126, 0}, {0x81, 0x85, 1, 2}} {
		r := &maskFrames{r: bytes.NewReader(in)}
		if _, err := io.ReadAll(r); err == nil {
			t.Errorf("%x: no error", in)
		}
	}
}
