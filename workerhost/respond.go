package workerhost

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/dop251/goja"
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
	h := rw.Header()
	for i := 0; i+1 < len(out.headers); i += 2 {
		h[out.headers[i]] = append(h[out.headers[i]], out.headers[i+1])
	}
	switch out.kind {
	case 0:
		if bodyAllowed(out.status) {
			h.Set("Content-Length", "0")
		}
		rw.WriteHeader(out.status)
	case 1:
		size := len(out.bytes)
		if out.isText {
			size = len(out.text)
		}
		if bodyAllowed(out.status) {
			h.Set("Content-Length", strconv.Itoa(size))
		}
		rw.WriteHeader(out.status)
		if err := ex.writeBody(out.bytes, out.text, out.isText); err != nil {
			res.Outcome = OutcomeCanceled
			if errors.Is(err, errSlowClient) {
				return res, ErrResponseAborted
			}
		}
	case 2:
		return ex.stream(rw, out.status)
	}
	return res, nil
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

// requestHeaders flattens the headers of an incoming request like
// headersToJS, with the Host header, which net/http keeps apart but
// Workers scripts read from request.headers.
func (rt *jsRuntime) requestHeaders(r *http.Request) goja.Value {
	// The values are goja.Values, which NewArray takes as they are, rather
	// than strings it would box once more.
	flat := rt.flat[:0]
	if r.Host != "" {
		flat = append(flat, rt.hostKey, rt.vm.ToValue(r.Host))
	}
	for k, vs := range r.Header {
		lk := rt.lowerKey(k)
		for _, v := range vs {
			flat = append(flat, lk, rt.vm.ToValue(v))
		}
	}
	a := rt.vm.NewArray(flat...)
	clear(flat)
	rt.flat = flat
	return a
}

// headersToJS flattens h into [name, value, ...] with lower-case names.
func headersToJS(vm *goja.Runtime, h http.Header) goja.Value {
	flat := make([]any, 0, 2*len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		for _, v := range vs {
			flat = append(flat, lk, v)
		}
	}
	return vm.NewArray(flat...)
}
