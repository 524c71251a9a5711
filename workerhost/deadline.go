package workerhost

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// Slow clients: a script's request holds its runtime while the request
// body is read and while the response is written, so a client that sends
// or reads at a trickle would hold the runtime as long as it likes. Reads
// of the request body and writes of a large or streamed response therefore
// run under an idle deadline on the connection (Config.BodyTimeout): each
// chunk must move within it, so a client has to send or read at least a
// chunk per BodyTimeout. Small responses are written without deadlines, as
// the connection's buffers take them whole: they cost nothing per request.

// writeChunk is the size of the chunks a large body is written in, and
// the size below which a body is written without a deadline.
const writeChunk = 64 << 10

// readChunk is the size of the reads of a request body.
const readChunk = 32 << 10

// errSlowClient is the error of a read or write past its idle deadline.
var errSlowClient = errors.New("the client moved no data within the body timeout")

// controller returns the exchange's ResponseController, made on first use.
func (ex *exchange) controller() *http.ResponseController {
	if ex.rc == nil {
		ex.rc = http.NewResponseController(ex.rw)
	}
	return ex.rc
}

// writeBody writes a body of bytes or text, chunk by chunk under the
// idle deadline when it is large.
func (ex *exchange) writeBody(b []byte, text string, isText bool) error {
	size := len(b)
	if isText {
		size = len(text)
	}
	if size <= writeChunk {
		var err error
		if isText {
			_, err = io.WriteString(ex.rw, text)
		} else {
			_, err = ex.rw.Write(b)
		}
		return err
	}
	for off := 0; off < size; off += writeChunk {
		end := min(off+writeChunk, size)
		var err error
		if isText {
			err = ex.writeChunk(nil, text[off:end])
		} else {
			err = ex.writeChunk(b[off:end], "")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeChunk writes one chunk (b, or text when b is nil) within the idle
// deadline.
func (ex *exchange) writeChunk(b []byte, text string) error {
	rc := ex.controller()
	if rc.SetWriteDeadline(time.Now().Add(ex.w.cfg.BodyTimeout)) == nil {
		ex.writeDeadline = true
	}
	var err error
	if b == nil {
		_, err = io.WriteString(ex.rw, text)
	} else {
		_, err = ex.rw.Write(b)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errSlowClient
	}
	return err
}

// clearDeadlines lifts the deadlines the exchange set, which would
// otherwise outlive it on a kept-alive connection.
func (ex *exchange) clearDeadlines() {
	if ex.writeDeadline {
		_ = ex.controller().SetWriteDeadline(time.Time{})
	}
}

// readBody reads r up to limit+1 bytes, each chunk within the idle
// deadline. It runs on a task goroutine.
func (ex *exchange) readBody(r io.Reader, limit int64) ([]byte, error) {
	rc := ex.controller()
	deadline := true
	var data []byte
	buf := make([]byte, readChunk)
	for int64(len(data)) <= limit {
		if deadline && rc.SetReadDeadline(time.Now().Add(ex.w.cfg.BodyTimeout)) != nil {
			deadline = false
		}
		n, err := r.Read(buf[:min(int64(len(buf)), limit+1-int64(len(data)))])
		data = append(data, buf[:n]...)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// net/http takes the failed read for a client gone and
			// cancels the request; slowBody turns that into a 408.
			ex.slowBody.Store(true)
			// The deadline stays: net/http, which reads what is left of
			// the body after the handler, gives up on this client at once.
			return data, errSlowClient
		}
		if err != nil && err != io.EOF {
			return data, err
		}
		if err == io.EOF {
			break
		}
	}
	if deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return data, nil
}
