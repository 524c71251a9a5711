package caddymodule

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/caddy-gradual/gradual/workerhost"
)

// tracerName is the instrumentation scope of the plugin's spans.
const tracerName = "github.com/caddy-gradual/gradual"

// Span attribute keys (SPEC §5).
const (
	attrWorker    = attribute.Key("worker.name")
	attrVersionID = attribute.Key("worker.version.id")
	attrTag       = attribute.Key("worker.version.tag")
	attrSelection = attribute.Key("worker.version.selection")
)

// propagators match Caddy's tracing module: the OTEL_PROPAGATORS
// environment variable, by default W3C trace context and baggage.
var propagators = autoprop.NewTextMapPropagator()

// spanAttrs returns a version's span attributes for each selection, built
// once so that tagging spans allocates nothing extra.
func spanAttrs(worker, id, tag string) [len(selectionNames)][]attribute.KeyValue {
	var out [len(selectionNames)][]attribute.KeyValue
	for sel, name := range selectionNames {
		out[sel] = []attribute.KeyValue{attrWorker.String(worker), attrVersionID.String(id), attrTag.String(tag), attrSelection.String(name)}
	}
	return out
}

// spanAttrsKey carries the request's version attributes to client spans
// (fetch() from a worker, requests to upstreams).
type spanAttrsKey struct{}

// startSpans tags the server span that Caddy's tracing directive created
// and starts the handler's own span under it, named after the worker. It
// does nothing, and costs one context look-up, when the request is not
// traced. The tracer comes from the provider of the span already in the
// context; no global provider is used.
func startSpans(r *http.Request, worker string, attrs []attribute.KeyValue) (*http.Request, trace.Span) {
	server := trace.SpanFromContext(r.Context())
	if !server.IsRecording() {
		return r, nil
	}
	server.SetAttributes(attrs...)
	ctx, span := server.TracerProvider().Tracer(tracerName).Start(r.Context(), worker,
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	ctx = context.WithValue(ctx, spanAttrsKey{}, attrs)
	return r.WithContext(ctx), span
}

// endSpan finishes the handler's span with the request's outcome; uncaught
// script exceptions become exception events, as RecordError would make.
func endSpan(span trace.Span, res *workerhost.Result, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(res.Status), attribute.String("worker.outcome", res.Outcome))
	for _, e := range res.Exceptions {
		span.AddEvent(semconv.ExceptionEventName, trace.WithTimestamp(e.Time), trace.WithAttributes(
			semconv.ExceptionType(e.Name), semconv.ExceptionMessage(e.Message), semconv.ExceptionStacktrace(e.Stack)))
	}
	if err != nil && len(res.Exceptions) == 0 {
		span.RecordError(err)
	}
	if err != nil || res.Status >= 500 || isException(res.Outcome) {
		span.SetStatus(codes.Error, res.Outcome)
	}
	span.End()
}

// startUpstreamSpan starts the client span of a request that an upstream
// version proxies, and makes the upstream's traceparent name that span, so
// the upstream's own spans join the trace under it.
func startUpstreamSpan(r *http.Request) trace.Span {
	parent := trace.SpanFromContext(r.Context())
	if !parent.IsRecording() {
		return nil
	}
	attrs, _ := r.Context().Value(spanAttrsKey{}).([]attribute.KeyValue)
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(r.Context(), r.Method,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method)))
	// reverse_proxy copies the incoming headers to the upstream request;
	// Caddy's tracing module already put the server span's traceparent
	// there, which this replaces.
	propagators.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return span
}

// endUpstreamSpan finishes an upstream client span.
func endUpstreamSpan(span trace.Span, r *http.Request, status int, err error) {
	if span == nil {
		return
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		if addr, ok := repl.GetString("http.reverse_proxy.upstream.address"); ok && addr != "" {
			span.SetAttributes(semconv.ServerAddress(addr))
		}
	}
	if status != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// fetchTransport traces a worker's outbound fetch() requests: when the
// incoming request is traced, each fetch is a client span (otelhttp, using
// the provider of the span in the request's context) carrying the version
// attributes, and sends traceparent. Untraced fetches skip otelhttp.
type fetchTransport struct {
	base   http.RoundTripper
	traced http.RoundTripper
}

func newFetchTransport(base http.RoundTripper) *fetchTransport {
	return &fetchTransport{
		base: base,
		traced: otelhttp.NewTransport(attrTransport{base},
			otelhttp.WithPropagators(propagators),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "fetch " + r.Method })),
	}
}

// RoundTrip implements http.RoundTripper.
func (t *fetchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if trace.SpanFromContext(r.Context()).IsRecording() {
		return t.traced.RoundTrip(r)
	}
	return t.base.RoundTrip(r)
}

// attrTransport runs inside otelhttp's client span and tags it with the
// version.
type attrTransport struct{ base http.RoundTripper }

func (t attrTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if attrs, ok := r.Context().Value(spanAttrsKey{}).([]attribute.KeyValue); ok {
		trace.SpanFromContext(r.Context()).SetAttributes(attrs...)
	}
	return t.base.RoundTrip(r)
}
