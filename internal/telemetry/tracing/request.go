package tracing

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Request is one request's trace: the context it came with, the ids
// Pylon gives it, the sampling decision and, once sampled, its spans. It
// lives in the proxy's pooled request context; Reset readies it for the
// next request.
type Request struct {
	t         *Tracer
	parent    Parent
	hasParent bool
	// TraceID and SpanID are what the upstream sees as its parent: the
	// request's trace and Pylon's server span (or, when sampled, the
	// current try's span).
	TraceID [16]byte
	SpanID  [8]byte
	Sampled bool
	decided bool
	ratio   float64 // a route's own ratio, -1 for the tracer's
	off     bool    // the route turned tracing off: pass trace headers on untouched
	state   []byte  // the tracestate to pass on, copied
	preset  preset
	span    trace.Span
	try     trace.Span
	tries   int
}

// Active reports whether tracing applies to this request.
func (r *Request) Active() bool { return r.t != nil && !r.off }

// Tracer returns the request's tracer, nil when tracing is off.
func (r *Request) Tracer() *Tracer { return r.t }

// Has reports whether the tracer reads and writes the propagator p.
func (t *Tracer) Has(p string) bool {
	switch p {
	case TraceContext:
		return t.prop&propTraceContext != 0
	case B3Single:
		return t.prop&propB3 != 0
	case B3Multi:
		return t.prop&propB3Multi != 0
	}
	return false
}

// Begin starts the request's trace under t with the parent found on the
// request (ok false: none, or a malformed one, and a new trace starts)
// and the tracestate to pass on (nil for none).
func (r *Request) Begin(t *Tracer, p Parent, ok bool, tracestate []byte) {
	r.t, r.ratio = t, -1
	r.parent, r.hasParent = p, ok
	if ok {
		r.TraceID = p.TraceID
		r.state = append(r.state[:0], tracestate...)
	} else {
		randomTraceID(&r.TraceID)
	}
	r.SpanID = randomSpanID()
}

// SetRatio makes the request sampled at ratio (0-1) instead of the
// tracer's share, as a route's tracing plugin asks. It counts only
// before the decision.
func (r *Request) SetRatio(ratio float64) { r.ratio = ratio }

// TurnOff makes the request untraced: no span, and its trace headers go
// upstream as they came.
func (r *Request) TurnOff() { r.off = true }

// Off reports whether a route turned tracing off for this request.
func (r *Request) Off() bool { return r.off }

// Parent returns the parent the request came with, if any.
func (r *Request) Parent() (Parent, bool) { return r.parent, r.hasParent }

// Tracestate is the tracestate passed on; nil for none.
func (r *Request) Tracestate() []byte { return r.state }

// Decide makes the sampling decision, once; a sampled request starts its
// server span at start, named for the method and the route.
func (r *Request) Decide(method []byte, route string, start time.Time) {
	if r.decided || !r.Active() {
		return
	}
	r.decided = true
	var pp *Parent
	if r.hasParent {
		pp = &r.parent
	}
	r.Sampled = r.t.settings.Sampler.Sample(pp, r.TraceID, r.ratio)
	if !r.Sampled {
		return
	}
	r.preset = preset{tid: r.TraceID, sid: r.SpanID}
	ctx := context.WithValue(context.Background(), presetKey{}, &r.preset)
	if r.hasParent {
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: r.TraceID, SpanID: r.parent.SpanID, TraceFlags: trace.FlagsSampled, Remote: true,
			TraceState: parseState(r.state),
		})
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	name := string(method)
	if route != "" {
		name += " " + route
	}
	_, r.span = r.t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
}

func parseState(b []byte) trace.TraceState {
	if len(b) == 0 {
		return trace.TraceState{}
	}
	ts, err := trace.ParseTraceState(string(b))
	if err != nil {
		return trace.TraceState{}
	}
	return ts
}

// StartTry opens the span of one upstream try and makes it the parent the
// upstream sees (SpanID). Unsampled requests keep the server span's id.
func (r *Request) StartTry(method []byte, address string) {
	r.tries++
	if r.span == nil {
		return
	}
	ctx := trace.ContextWithSpan(context.Background(), r.span)
	_, r.try = r.t.tracer.Start(ctx, string(method), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", string(method)),
		attribute.String("server.address", address),
		attribute.String("network.peer.address", address),
		attribute.Int("pylon.try", r.tries),
		attribute.Int("http.request.resend_count", r.tries-1),
	))
	r.SpanID = [8]byte(r.try.SpanContext().SpanID())
}

// EndTry closes the current try's span with its status, or the failure
// that left it without one ("connect", "timeout", "reset", "client").
func (r *Request) EndTry(status int, failure string) {
	if r.try == nil {
		return
	}
	if status > 0 {
		r.try.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if failure != "" {
		r.try.SetAttributes(attribute.String("error.type", failure))
		r.try.SetStatus(codes.Error, failure)
	} else if status >= 500 {
		r.try.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
		r.try.SetStatus(codes.Error, "")
	}
	r.try.End()
	r.try = nil
}

// Info is what the server span records of a finished request.
type Info struct {
	Method, Host, Path, Scheme, Protocol, ClientIP, UserAgent, RequestID []byte
	Route, Service, Consumer, Upstream                                   string
	Status                                                               int
	Failure                                                              string
}

// Sampled reports whether the request has spans, for callers that fill
// Info only then.
func (r *Request) HasSpan() bool { return r.span != nil }

// End closes the server span (and a try left open) at the request's end.
func (r *Request) End(in *Info) {
	if r.try != nil {
		r.EndTry(0, "client")
	}
	if r.span == nil {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", string(in.Method)),
		attribute.String("server.address", string(in.Host)),
		attribute.String("url.path", string(in.Path)),
		attribute.String("url.scheme", string(in.Scheme)),
		attribute.String("network.protocol.name", "http"),
		attribute.String("network.protocol.version", string(in.Protocol)),
		attribute.String("client.address", string(in.ClientIP)),
		attribute.Int("http.response.status_code", in.Status),
		attribute.String("pylon.request_id", string(in.RequestID)),
	}
	if len(in.UserAgent) > 0 {
		attrs = append(attrs, attribute.String("user_agent.original", string(in.UserAgent)))
	}
	if in.Route != "" {
		attrs = append(attrs, attribute.String("pylon.route", in.Route))
	}
	if in.Service != "" {
		attrs = append(attrs, attribute.String("pylon.service", in.Service))
	}
	if in.Consumer != "" {
		attrs = append(attrs, attribute.String("pylon.consumer", in.Consumer))
	}
	if in.Upstream != "" {
		attrs = append(attrs, attribute.String("pylon.upstream", in.Upstream))
	}
	if r.tries > 1 {
		attrs = append(attrs, attribute.Int("pylon.tries", r.tries))
	}
	r.span.SetAttributes(attrs...)
	if in.Status >= 500 {
		msg := in.Failure
		r.span.SetAttributes(attribute.String("error.type", orStatus(in.Failure, in.Status)))
		r.span.SetStatus(codes.Error, msg)
	}
	r.span.End()
	r.span = nil
}

func orStatus(failure string, status int) string {
	if failure != "" {
		return failure
	}
	return strconv.Itoa(status)
}

// Reset readies r for another request.
func (r *Request) Reset() {
	if r.try != nil || r.span != nil {
		r.End(&Info{})
	}
	state := r.state[:0]
	*r = Request{state: state}
}
