package workerhost

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// ServiceFetcher serves the requests of a service binding in process: the
// other worker's handler, with no socket in between.
type ServiceFetcher interface {
	// ServeService serves req, the request the script built, and writes
	// the response to w. incoming is the request the calling script is
	// serving, whose context req's derives from: the fetcher reads what
	// the call inherits from it (override header, affinity key, trace).
	// An error fails the script's fetch with an Error of its text; it is
	// for calls that could not be made at all (no such worker, calls
	// nested too deep), never for a response the callee gave.
	ServeService(w http.ResponseWriter, req, incoming *http.Request) error
}

// Service is a service binding: env.NAME.fetch(input, init) hands the
// request to Fetcher and resolves to its response, as Cloudflare's service
// bindings do. Request and response bodies are buffered whole, each at
// most MaxBodyBytes.
type Service struct {
	// Fetcher serves the calls. Required.
	Fetcher ServiceFetcher
	// Target describes what Fetcher calls, for String.
	Target string
}

// String implements Binding.
func (b Service) String() string { return "service(" + b.Target + ")" }

var (
	//go:embed js/service.js
	serviceSource  string
	serviceProgram = goja.MustCompile("gradual:service.js", serviceSource, true)
)

func (b Service) value(bd *binder, name string) (goja.Value, error) {
	if b.Fetcher == nil {
		return nil, fmt.Errorf("binding %s: service without a fetcher", name)
	}
	rt := bd.rt
	if bd.makeService == nil {
		v, err := rt.vm.RunProgram(serviceProgram)
		if err != nil {
			return nil, err
		}
		setup, _ := goja.AssertFunction(v)
		if v, err = setup(goja.Undefined()); err != nil {
			return nil, err
		}
		bd.makeService, _ = goja.AssertFunction(v)
	}
	fetch, err := rt.fetcher(goja.Undefined(), rt.vm.ToValue(rt.serviceSend(b.Fetcher)))
	if err != nil {
		return nil, err
	}
	return bd.makeService(goja.Undefined(), fetch)
}

var (
	// errServiceBodyTooLarge fails a call whose response body is over
	// MaxBodyBytes.
	errServiceBodyTooLarge = errors.New("response body too large")
	// errServicePanic fails a call whose fetcher panicked.
	errServicePanic = errors.New("service binding: internal error")
)

// serviceSend returns the native side of a binding's fetch, with
// host.fetch's arguments (method, url, headers, body, redirect, callback,
// resolve, reject) for a Request the prelude has built. The call runs on
// its own goroutine, as a fetch() does, and its callback on the loop.
// Redirects are not followed: the callee's response is handed back as it
// is.
func (rt *jsRuntime) serviceSend(f ServiceFetcher) func(goja.FunctionCall) goja.Value {
	return func(c goja.FunctionCall) goja.Value {
		ex := rt.requestOnly("service binding fetch()")
		cb := rt.sendCallback(c, "service binding")
		body := sentBody(c.Argument(3))
		hasBody := body != nil
		if !hasBody {
			body = http.NoBody
		}
		target := c.Argument(1).String()
		req, err := http.NewRequestWithContext(ex.context(), c.Argument(0).String(), target, body)
		if err != nil {
			rt.throwType("service binding: %v", err)
		}
		// The callee gets the headers the script set, as workerd hands
		// them over: the framing ones too, and a host only if the script
		// set one (req.Host is the URL's), and the length of a body that
		// has one the script did not set.
		eachHeader(c.Argument(2), func(name, value string) {
			key := rt.canonicalKey(name)
			req.Header[key] = append(req.Header[key], value)
		})
		if _, ok := req.Header["Content-Length"]; hasBody && !ok {
			req.Header["Content-Length"] = []string{strconv.FormatInt(req.ContentLength, 10)}
		}
		req.RemoteAddr = ex.req.RemoteAddr
		req.RequestURI = req.URL.RequestURI()
		incoming := ex.req
		limit := ex.w.cfg.MaxBodyBytes
		ex.pending++
		ex.goTask(func() {
			rec := &serviceRecorder{limit: limit}
			err := errServicePanic
			// Posted even when ServeService panics (goTask logs it), so
			// that the script's fetch fails rather than never settles.
			defer ex.post(func() error {
				ex.pending--
				return ex.serviceDone(cb, rec, target, err)
			})
			err = f.ServeService(rec, req, incoming)
		})
		return goja.Undefined()
	}
}

// serviceDone settles a binding's fetch on the loop.
func (ex *exchange) serviceDone(cb sendCallback, rec *serviceRecorder, url string, err error) error {
	rt := ex.rt
	if err == nil && rec.tooLarge {
		err = fmt.Errorf("service binding: %w: over %d bytes", errServiceBodyTooLarge, rec.limit)
	}
	if err != nil {
		return cb.fail(ex, err.Error())
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	var body goja.Value = goja.Null()
	switch {
	case rec.text != "":
		body = rt.vm.ToValue(rec.text)
	case rec.body.Len() > 0:
		body = rt.bytes(rec.body.Bytes())
	}
	text := rec.statusText
	if !rec.hasStatusText {
		text = strings.TrimSpace(http.StatusText(status))
	}
	return cb.done(ex, status, text, rt.recordedHeaders(rec), body, url, false)
}

// recordedHeaders returns the state object of rec's headers, immutable:
// those written through Header, then those take recorded, with names
// checked and lower-cased from the runtime's cache.
func (rt *jsRuntime) recordedHeaders(rec *serviceRecorder) *goja.Object {
	state := rt.headerState("", rec.header)
	hl := stateHeaders(state)
	for i := 0; i+1 < len(rec.flat); i += 2 {
		n := rt.lowerName(rec.flat[i])
		hl.add(n.name, n.js, rt.vm.ToValue(rec.flat[i+1]))
	}
	return state
}

// serviceRecorder is the http.ResponseWriter a callee answers a binding's
// call into: the response is buffered, up to limit bytes of body. A
// script's response comes as its loop described it (take), with no header
// map, and a body the script gave as a string stays one (text), which the
// calling script's Response reads as the same bytes; other callees write
// through the interface.
type serviceRecorder struct {
	header        http.Header // made on first use
	flat          []string    // from take: name as the script set it, value, ...
	status        int
	statusText    string // a script's, if hasStatusText
	hasStatusText bool   // else the caller gets the standard one
	text          string
	body          bytes.Buffer
	limit         int64
	tooLarge      bool
}

func (r *serviceRecorder) Header() http.Header {
	if r.header == nil {
		r.header = make(http.Header)
	}
	return r.header
}

// take records the response of a script, with a body of kind 0 or 1: its
// headers as the script set them, with no Content-Length of the host's,
// as workerd hands a binding's response over.
func (r *serviceRecorder) take(out *responseDesc) {
	r.flat = out.headers
	r.WriteHeader(out.status)
	r.statusText, r.hasStatusText = out.statusText, out.hasStatusText
	size := out.bodySize()
	if size == 0 || !r.fits(size) {
		return
	}
	if out.isText {
		r.text = out.text
	} else {
		r.body.Write(out.bytes)
	}
}

// WriteHeader records the final status; informational ones are dropped.
func (r *serviceRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
}

func (r *serviceRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if !r.fits(len(b)) {
		return 0, errServiceBodyTooLarge
	}
	if r.text != "" {
		r.body.WriteString(r.text)
		r.text = ""
	}
	return r.body.Write(b)
}

// fits reports whether n more bytes of body stay within the limit, and
// marks the response too large if not.
func (r *serviceRecorder) fits(n int) bool {
	if int64(len(r.text)+r.body.Len()+n) > r.limit {
		r.tooLarge = true
		return false
	}
	return true
}

// Flush implements http.Flusher for callees that stream; the body is
// handed over whole anyway.
func (r *serviceRecorder) Flush() {}
