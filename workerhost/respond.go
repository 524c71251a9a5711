package workerhost

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// The Serve goroutine's side of an exchange: it waits for the loop's
// replies and writes the response, so that a slow client costs this
// goroutine, never the loop.

// next waits for the loop's next reply.
func (ex *exchange) next() reply {
	select {
	case r := <-ex.replies:
		return r
	case <-ex.done:
		// The exchange ended; its last reply, if any, is buffered.
		select {
		case r := <-ex.replies:
			return r
		default:
			return reply{fail: &failure{status: http.StatusInternalServerError, msg: "worker failed", err: errException},
				res: Result{Outcome: OutcomeException, Status: http.StatusInternalServerError}}
		}
	}
}

// respond writes the response of the exchange, which the loop is running.
func (ex *exchange) respond(rw http.ResponseWriter) (Result, error) {
	defer ex.clearDeadlines()
	r := ex.next()
	res := r.res
	if f := r.fail; f != nil {
		switch {
		case f.err == ErrPassThrough:
			return res, ErrPassThrough
		case f.status != 0:
			http.Error(rw, f.msg, f.status)
		}
		return res, nil
	}
	out := r.resp
	if rec := ex.rec; rec != nil {
		// A service binding's call: the calling script gets the response
		// as the loop described it.
		if out.kind != 2 {
			rec.take(out)
			return res, nil
		}
		rec.statusText, rec.hasStatusText = out.statusText, out.hasStatusText
	}
	h := rw.Header()
	for i := 0; i+1 < len(out.headers); i += 2 {
		h[out.headers[i]] = append(h[out.headers[i]], out.headers[i+1])
	}
	if out.kind == 2 {
		return ex.stream(rw, out.status)
	}
	if bodyAllowed(out.status) {
		h.Set("Content-Length", strconv.Itoa(out.bodySize()))
	}
	rw.WriteHeader(out.status)
	if out.kind == 1 {
		if err := ex.writeBody(out.bytes, out.text, out.isText); err != nil {
			res.Outcome = OutcomeCanceled
			if errors.Is(err, errSlowClient) {
				return res, ErrResponseAborted
			}
		}
	}
	return res, nil
}

// bodySize is the size of a body of kind 0 or 1.
func (d *responseDesc) bodySize() int {
	switch {
	case d.kind != 1:
		return 0
	case d.isText:
		return len(d.text)
	}
	return len(d.bytes)
}

// stream sends a ReadableStream body chunk by chunk, flushing each.
func (ex *exchange) stream(rw http.ResponseWriter, status int) (Result, error) {
	rw.WriteHeader(status)
	_ = ex.rc.Flush()
	for {
		ex.post(ex.readChunk)
		r := ex.next()
		switch {
		case r.fail != nil:
			// The exchange ended before it could read (a worker closed).
			return Result{Outcome: OutcomeCanceled, Status: status}, ErrResponseAborted
		case r.eof:
			return r.res, nil
		case r.chunk == nil:
			return r.res, r.err
		}
		if err := ex.writeChunk(r.chunk, ""); err != nil {
			ex.post(ex.clientGone)
			last := ex.next()
			res := last.res
			res.Outcome = OutcomeCanceled
			if errors.Is(err, errSlowClient) {
				return res, ErrResponseAborted
			}
			return res, nil
		}
		_ = ex.rc.Flush()
	}
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// requestURL is the absolute URL of r, as the script sees it.
func requestURL(r *http.Request) string {
	if r.URL.IsAbs() {
		return r.URL.String()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(r.Host) + len(r.URL.RequestURI()))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(r.Host)
	b.WriteString(r.URL.RequestURI())
	return b.String()
}
