package proxy

import (
	"pylon.io/pylon/internal/telemetry/tracing"
)

// traceHeaders are the trace context headers of every propagator, in the
// order of traceState.raw.
var traceHeaders = [...]string{
	tracing.HeaderTraceparent, tracing.HeaderTracestate, tracing.HeaderB3,
	tracing.HeaderB3TraceID, tracing.HeaderB3SpanID, tracing.HeaderB3Sampled, tracing.HeaderB3Parent, tracing.HeaderB3Flags,
}

// traceState is a request's tracing in the pooled Ctx: the trace, and the
// trace headers as the client sent them, for a route that turns tracing
// off and passes them on untouched.
type traceState struct {
	tracing.Request
	raw  [len(traceHeaders)][]byte
	has  uint8 // which of raw the client sent
	hbuf []byte
}

func (t *traceState) reset() {
	t.Request.Reset()
	for i := range t.raw {
		t.raw[i] = t.raw[i][:0]
	}
	t.has = 0
	t.hbuf = t.hbuf[:0]
}

// startTrace reads the request's trace context, as the tracer's
// propagators say, and takes the client's trace headers off the request:
// Pylon writes its own upstream, and a malformed one never goes on.
func (p *Proxy) startTrace(c *Ctx, h headerEditor) {
	t := p.tracer.Load()
	if t == nil {
		return
	}
	ts := &c.trace
	for i, name := range traceHeaders {
		if !c.mayHold(traceBit(i)) {
			continue // the HTTP/1.1 engine's one pass saw no such header
		}
		if v := h.peek(name); len(v) > 0 {
			ts.raw[i] = append(ts.raw[i][:0], v...)
			ts.has |= 1 << i
			h.del(name)
		}
	}
	var parent tracing.Parent
	ok := false
	var state []byte
	if t.Has(tracing.TraceContext) && ts.has&1 != 0 {
		if parent, ok = tracing.ParseTraceparent(ts.raw[0]); ok && ts.has&2 != 0 && tracing.ValidTracestate(ts.raw[1]) {
			state = ts.raw[1]
		}
	}
	if !ok && t.Has(tracing.B3Single) && ts.has&4 != 0 {
		parent, ok = tracing.ParseB3(ts.raw[2])
	}
	if !ok && t.Has(tracing.B3Multi) && ts.has&(1<<3) != 0 {
		parent, ok = tracing.ParseB3Multi(ts.peekRaw)
	}
	ts.Begin(t, parent, ok, state)
}

// peekRaw returns a saved client trace header, for ParseB3Multi.
func (t *traceState) peekRaw(name string) []byte {
	for i, n := range traceHeaders {
		if n == name {
			return t.raw[i]
		}
	}
	return nil
}

// decideTrace makes the sampling decision once the route (and its tracing
// plugin) is known; a sampled request's server span starts then, dated
// from the request's start.
func decideTrace(c *Ctx) {
	route := ""
	if c.route != nil {
		route = c.route.Name
	}
	c.trace.Decide(c.method, route, c.start)
}

// setTraceHeaders gives out the trace headers for the upstream: Pylon's
// span as the parent, in every configured propagator's format, or the
// client's own when the route turned tracing off.
func setTraceHeaders(c *Ctx, out headerSetter) {
	ts := &c.trace
	t := ts.Tracer()
	if t == nil {
		return
	}
	if ts.Off() {
		for i, name := range traceHeaders {
			if ts.has&(1<<i) != 0 {
				out.set(name, ts.raw[i])
			}
		}
		return
	}
	decideTrace(c)
	writeTraceHeaders(c, out)
}

// writeTraceHeaders writes the current parent id (the server span, or the
// current try's) in each propagator's format.
func writeTraceHeaders(c *Ctx, out headerSetter) {
	ts := &c.trace
	t := ts.Tracer()
	b := ts.hbuf[:0]
	if t.Has(tracing.TraceContext) {
		b = tracing.AppendTraceparent(b, ts.TraceID, ts.SpanID, ts.Sampled)
		out.set(tracing.HeaderTraceparent, b)
		if st := ts.Tracestate(); len(st) > 0 {
			out.set(tracing.HeaderTracestate, st)
		}
	}
	if t.Has(tracing.B3Single) {
		n := len(b)
		b = tracing.AppendB3(b, ts.TraceID, ts.SpanID, ts.Sampled)
		out.set(tracing.HeaderB3, b[n:])
	}
	if t.Has(tracing.B3Multi) {
		n := len(b)
		b = tracing.AppendHex(b, ts.TraceID[:])
		out.set(tracing.HeaderB3TraceID, b[n:])
		n = len(b)
		b = tracing.AppendHex(b, ts.SpanID[:])
		out.set(tracing.HeaderB3SpanID, b[n:])
		if ts.Sampled {
			out.set(tracing.HeaderB3Sampled, one)
		} else {
			out.set(tracing.HeaderB3Sampled, zero)
		}
	}
	ts.hbuf = b
}

var one, zero = []byte("1"), []byte("0")

// traceTry opens a try's span; for a sampled request its id goes upstream
// as the parent of that try.
func traceTry(c *Ctx, s sender, address string) {
	ts := &c.trace
	if !ts.Active() {
		return
	}
	ts.StartTry(c.method, address)
	if ts.HasSpan() {
		writeTraceHeaders(c, senderHeaders{s})
	}
}

// senderHeaders sets headers on a sender's prepared request.
type senderHeaders struct{ s sender }

func (h senderHeaders) set(name string, value []byte) { h.s.setHeader(name, value) }

// endTrace closes the request's spans with what it came to.
func (p *Proxy) endTrace(c *Ctx, o *outcome) {
	ts := &c.trace
	if !ts.Active() {
		return
	}
	decideTrace(c)
	if !ts.HasSpan() {
		return
	}
	in := tracing.Info{
		Method: c.method, Host: c.host, Path: c.path, Protocol: unsafeBytes(c.cl.proto()),
		ClientIP: c.clientIP, RequestID: c.requestID, Status: o.status, Failure: o.failure,
		Consumer: c.consumer,
	}
	if c.tls {
		in.Scheme = protoHTTPS
	} else {
		in.Scheme = protoHTTP
	}
	if ua, ok := c.Header("User-Agent"); ok {
		in.UserAgent = ua
	}
	in.Route, in.Service, in.Upstream = o.names()
	ts.End(&in)
}
