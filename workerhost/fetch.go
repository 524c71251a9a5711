package workerhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dop251/goja"
	"go.uber.org/zap"
)

// maxRedirects is the number of redirects fetch follows, as in workerd.
const maxRedirects = 20

// errFetchBodyTooLarge fails a fetch whose response body is over
// MaxBodyBytes.
var errFetchBodyTooLarge = errors.New("fetch response body too large")

// fetchOp is an outbound request in flight.
type fetchOp struct {
	cancel  context.CancelFunc
	aborted bool
}

// fetchResult is what the fetch goroutine hands back to the loop.
type fetchResult struct {
	status     int
	statusText string
	header     http.Header
	body       []byte
	url        string
	redirected bool
	err        error
}

// hostFetch starts an outbound request and returns its id; its callback
// (sendCallback) runs on the loop when it completes.
func (rt *jsRuntime) hostFetch(c goja.FunctionCall) goja.Value {
	ex := rt.requestOnly("fetch()")
	method := c.Argument(0).String()
	target := c.Argument(1).String()
	cb := rt.sendCallback(c, "fetch")
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		rt.throwType("Fetch API cannot load: %s", target)
	}
	body := sentBody(c.Argument(3))
	fctx, cancel := context.WithCancel(ex.context())
	req, err := http.NewRequestWithContext(fctx, method, target, body)
	if err != nil {
		cancel()
		rt.throwType("Fetch API cannot load: %s: %v", target, err)
	}
	// Only the headers the script set are sent: a present but empty
	// User-Agent keeps net/http from adding its own.
	req.Header["User-Agent"] = nil
	eachHeader(c.Argument(2), func(name, value string) {
		switch name {
		case "host", "content-length", "transfer-encoding", "connection":
			// The transport frames the request and addresses it by URL.
			return
		}
		key := rt.canonicalKey(name)
		if key == "User-Agent" {
			req.Header[key] = []string{value}
			return
		}
		req.Header[key] = append(req.Header[key], value)
	})
	redirect := c.Argument(4).String()
	_, scriptReferer := req.Header["Referer"]
	client := &http.Client{
		Transport: ex.w.transport,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			switch {
			case redirect == "manual":
				return http.ErrUseLastResponse
			case redirect == "error":
				return errors.New("redirect mode is set to error")
			case len(via) >= maxRedirects:
				return errors.New("too many redirects")
			}
			if !scriptReferer {
				r.Header.Del("Referer")
			}
			return nil
		},
	}
	ex.nextFetch++
	id := ex.nextFetch
	op := &fetchOp{cancel: cancel}
	if ex.fetches == nil {
		ex.fetches = map[int64]*fetchOp{}
	}
	ex.fetches[id] = op
	ex.pending++
	limit := ex.w.cfg.MaxBodyBytes
	ex.goTask(func() {
		res := doFetch(client, req, limit)
		cancel()
		ex.post(func() error {
			ex.pending--
			delete(ex.fetches, id)
			return ex.fetchDone(cb, op, res)
		})
	})
	return rt.vm.ToValue(id)
}

// sentBody returns a body the prelude sends (null, a string or bytes) as
// a reader, nil for null; the bytes are copied, as the script may change
// them while the request is sent.
func sentBody(v goja.Value) io.Reader {
	switch b := v.Export().(type) {
	case nil:
		return nil
	case []byte:
		return bytes.NewReader(bytes.Clone(b))
	case string:
		return strings.NewReader(b)
	}
	return strings.NewReader(v.String())
}

func doFetch(client *http.Client, req *http.Request, limit int64) fetchResult {
	resp, err := client.Do(req)
	if err != nil {
		return fetchResult{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fetchResult{err: err}
	}
	if int64(len(body)) > limit {
		return fetchResult{err: errFetchBodyTooLarge}
	}
	return fetchResult{
		status:     resp.StatusCode,
		statusText: strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))),
		header:     resp.Header,
		body:       body,
		url:        resp.Request.URL.String(),
		redirected: resp.Request.URL.String() != req.URL.String(),
	}
}

func (ex *exchange) fetchDone(cb sendCallback, op *fetchOp, res fetchResult) error {
	rt := ex.rt
	if res.err != nil {
		msg := "abort"
		if !op.aborted {
			msg = ex.fetchError(res.err)
		}
		return cb.fail(ex, msg)
	}
	var body goja.Value = goja.Null()
	if len(res.body) > 0 {
		body = rt.bytes(res.body)
	}
	return cb.done(ex, res.status, res.statusText, rt.headerState("", res.header), body, res.url, res.redirected)
}

// sendCallback is how host.fetch and a binding's send call back:
// fn(a, b, err, status, statusText, headers, body, url, redirected), with
// a and b the arguments after fn (the promise's resolve and reject).
type sendCallback struct {
	fn   goja.Callable
	a, b goja.Value
}

// sendCallback takes a send's callback from its arguments.
func (rt *jsRuntime) sendCallback(c goja.FunctionCall, what string) sendCallback {
	fn, ok := goja.AssertFunction(c.Argument(5))
	if !ok {
		rt.throwType("%s: missing callback", what)
	}
	return sendCallback{fn, c.Argument(6), c.Argument(7)}
}

// fail calls back with the error message msg.
func (cb sendCallback) fail(ex *exchange, msg string) error {
	return ex.callback(cb.fn, cb.a, cb.b, ex.rt.vm.ToValue(msg))
}

// done calls back with a response, headers the state object of its
// immutable header list.
func (cb sendCallback) done(ex *exchange, status int, statusText string, headers *goja.Object, body goja.Value, url string, redirected bool) error {
	vm := ex.rt.vm
	return ex.callback(cb.fn, cb.a, cb.b, goja.Null(), vm.ToValue(status), vm.ToValue(statusText),
		headers, body, vm.ToValue(url), vm.ToValue(redirected))
}

// fetchError is the message of the TypeError a failed fetch rejects with.
// A fetch the sandbox refused names the URL's host and the rule; other
// network errors say only that the connection failed, as in workerd, since
// Go's text can tell a script about the network it runs in (resolver
// addresses, what internal names resolve to): it is logged at debug level.
func (ex *exchange) fetchError(err error) string {
	if rule, ok := blockedRule(err); ok {
		host := "the URL"
		if uerr := (*url.Error)(nil); errors.As(err, &uerr) {
			if u, perr := url.Parse(uerr.URL); perr == nil {
				host = u.Host
			}
		}
		return fmt.Sprintf("fetch to %s is blocked: %s", host, rule)
	}
	if errors.Is(err, errFetchBodyTooLarge) {
		return fmt.Sprintf("fetch: the response body is larger than %d bytes", ex.w.cfg.MaxBodyBytes)
	}
	if ce := ex.w.logger.Check(zap.DebugLevel, "fetch failed"); ce != nil {
		ce.Write(zap.Error(err))
	}
	return "Network connection lost."
}

func (rt *jsRuntime) hostAbortFetch(c goja.FunctionCall) goja.Value {
	if rt.ex == nil {
		return goja.Undefined()
	}
	if op, ok := rt.ex.fetches[c.Argument(0).ToInteger()]; ok {
		op.aborted = true
		op.cancel()
	}
	return goja.Undefined()
}
