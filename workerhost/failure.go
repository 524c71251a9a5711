package workerhost

import (
	"errors"
	"net/http"
	"time"

	"github.com/dop251/goja"
	"go.uber.org/zap"
)

// How a request ends when its script does not answer it: exceptions,
// fatal errors (limits, cancellation, a stall), and what Serve writes.

// failure is a request the script did not answer: Serve writes status
// and msg, or nothing when status is 0, and returns err.
type failure struct {
	status int
	msg    string
	err    error
}

func (ex *exchange) addException(e Exception) {
	ex.exceptions = append(ex.exceptions, e)
	ex.w.logException(e, "uncaught exception")
}

func (ex *exchange) forgetRejection(p *goja.Promise) {
	for i, q := range ex.rejections {
		if q == p {
			ex.rejections = append(ex.rejections[:i], ex.rejections[i+1:]...)
			return
		}
	}
}

// rejection turns a rejected promise that Go consumes into an Exception.
func (ex *exchange) rejection(p *goja.Promise) Exception {
	ex.forgetRejection(p)
	v := p.Result()
	e := Exception{Name: "Error", Time: time.Now()}
	if o, ok := v.(*goja.Object); ok {
		if n := safeGet(o, "name"); n != "" {
			e.Name = n
		}
		e.Message = safeGet(o, "message")
		e.Stack = safeGet(o, "stack")
	} else if v != nil {
		e.Message = v.String()
	}
	if e.Stack == "" {
		e.Stack = e.Name + ": " + e.Message
	}
	return e
}

// safeGet reads a property of a thrown value as a string: "" when it is
// undefined, or when a getter of the script's throws.
func safeGet(o *goja.Object, name string) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	v := o.Get(name)
	if v == nil || goja.IsUndefined(v) {
		return ""
	}
	return v.String()
}

// abort ends the exchange on err: a JavaScript exception, a *fatalError,
// errStalled, errTimeout. Serve, if it still waits for a reply, gets the
// failure to write.
func (ex *exchange) abort(err error) {
	if ex.closed {
		return
	}
	ex.rt.dropWaiters(ex)
	var jsErr *goja.Exception
	isJS := errors.As(err, &jsErr)
	switch ex.phase {
	case phaseHandling:
		if isJS {
			ex.addException(newException(jsErr))
			ex.replyFailure(ex.exceptionFailure())
			return
		}
		ex.failed = true
		ex.replyFailure(ex.fatalFailure(err))
	case phaseStreaming:
		ex.failed = true
		outcome := outcomeOf(err)
		if isJS {
			ex.addException(newException(jsErr))
			outcome = OutcomeException
		} else if outcome != OutcomeCanceled {
			ex.w.logger.Error("streamed response failed", zap.Error(err))
		}
		r := reply{err: ErrResponseAborted}
		if outcome == OutcomeCanceled {
			r.err = nil
		}
		ex.finish(r, outcome, ex.out.status)
	default:
		ex.reportWaitUntil()
		if isJS {
			ex.addException(newException(jsErr))
		} else {
			ex.w.logger.Warn("ctx.waitUntil work abandoned", zap.Error(err))
		}
		ex.close()
	}
}

// replyFailure answers Serve with f and ends the exchange.
func (ex *exchange) replyFailure(f failure) {
	outcome := f.outcome()
	ex.finish(reply{fail: &f}, outcome, f.status)
}

// exceptionFailure is the answer to a handler that threw.
func (ex *exchange) exceptionFailure() failure {
	switch {
	case ex.body.tooLarge:
		return failure{status: http.StatusRequestEntityTooLarge, msg: "request body too large", err: errException}
	case ex.passThrough:
		return failure{err: ErrPassThrough}
	}
	return failure{status: http.StatusInternalServerError, msg: "worker threw an exception", err: errException}
}

// fatalFailure is the answer to a request that ended on a fatal error.
func (ex *exchange) fatalFailure(err error) failure {
	switch outcomeOf(err) {
	case OutcomeExceededCPU:
		ex.w.logger.Warn("worker exceeded its CPU time limit", zap.Duration("cpu_limit", ex.w.cfg.CPULimit))
		return failure{status: http.StatusServiceUnavailable, msg: "worker exceeded its CPU time limit", err: errCPULimit}
	case OutcomeExceededMemory:
		// The heap cannot be trusted to shrink: the runtime is dropped,
		// taken out of the pool before Serve has its answer.
		ex.rt.broken = true
		ex.w.retire(ex.rt)
		ex.w.logger.Warn("worker exceeded its memory limit; its runtime is replaced",
			zap.Int64("memory_limit", ex.w.cfg.MemoryLimit), zap.Int64("heap", ex.rt.heap))
		return failure{status: http.StatusServiceUnavailable, msg: "worker exceeded its memory limit", err: errMemoryLimit}
	case OutcomeCanceled:
		if ex.slowBody.Load() {
			return failure{status: http.StatusRequestTimeout, msg: "request body timeout: the client sent no data in time", err: errCanceled}
		}
		return failure{err: errCanceled}
	case OutcomeOverloaded:
		return failure{status: http.StatusServiceUnavailable, msg: "worker is shutting down", err: errShutdown}
	case OutcomeNoResponse:
		ex.w.logger.Error("worker did not return a Response", zap.Error(err))
		return failure{status: http.StatusInternalServerError, msg: "worker did not return a Response", err: errNoResponse}
	}
	ex.w.logger.Error("worker failed", zap.Error(err))
	return failure{status: http.StatusInternalServerError, msg: "worker failed", err: errException}
}

var (
	errNoResponse = errors.New("worker did not return a Response")
	errException  = errors.New("worker threw an exception")
)

// outcome is the Result.Outcome of a failure.
func (f failure) outcome() string {
	if f.err == ErrPassThrough || f.err == errException {
		return OutcomeException
	}
	return outcomeOf(f.err)
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, errCPULimit):
		return OutcomeExceededCPU
	case errors.Is(err, errMemoryLimit):
		return OutcomeExceededMemory
	case errors.Is(err, errCanceled):
		return OutcomeCanceled
	case errors.Is(err, errShutdown):
		return OutcomeOverloaded
	case errors.Is(err, errStalled), errors.Is(err, errNoResponse):
		return OutcomeNoResponse
	default:
		return OutcomeException
	}
}
