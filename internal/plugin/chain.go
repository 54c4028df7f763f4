package plugin

import (
	"io"
	"log/slog"
)

// MaxChain bounds the plugins of one chain; the proxy keeps this many slots
// per request.
const MaxChain = 32

type hook[H any] struct {
	slot int
	h    H
}

// Chain is one route's flattened, ordered plugins, split by phase so the
// request path runs a precompiled slice per phase and looks nothing up.
type Chain struct {
	key   string
	refs  int
	insts []*instance
	names []string // by slot

	request  []hook[RequestHandler]
	access   []hook[AccessHandler]
	upstream []hook[UpstreamHandler]
	response []hook[ResponseHandler]
	body     []hook[BodyHandler]
	log      []hook[LogHandler]
	services []string
}

func (ch *Chain) add(inst *instance) {
	slot := len(ch.insts)
	ch.insts = append(ch.insts, inst)
	ch.names = append(ch.names, inst.name)
	v := inst.v
	if h, ok := v.(RequestHandler); ok {
		ch.request = append(ch.request, hook[RequestHandler]{slot, h})
	}
	if h, ok := v.(AccessHandler); ok {
		ch.access = append(ch.access, hook[AccessHandler]{slot, h})
	}
	if h, ok := v.(UpstreamHandler); ok {
		ch.upstream = append(ch.upstream, hook[UpstreamHandler]{slot, h})
	}
	if h, ok := v.(ResponseHandler); ok {
		ch.response = append(ch.response, hook[ResponseHandler]{slot, h})
	}
	if h, ok := v.(BodyHandler); ok {
		ch.body = append(ch.body, hook[BodyHandler]{slot, h})
	}
	if h, ok := v.(LogHandler); ok {
		ch.log = append(ch.log, hook[LogHandler]{slot, h})
	}
	ch.services = append(ch.services, inst.services...)
}

// Len returns the number of plugins; a nil chain has none.
func (ch *Chain) Len() int {
	if ch == nil {
		return 0
	}
	return len(ch.insts)
}

// Names lists the chain's plugins in execution order.
func (ch *Chain) Names() []string {
	if ch == nil {
		return nil
	}
	return ch.names
}

// Each calls fn for every plugin instance of the chain, in order.
func (ch *Chain) Each(fn func(name string, instance any)) {
	if ch == nil {
		return
	}
	for _, inst := range ch.insts {
		fn(inst.name, inst.v)
	}
}

// Services lists the services the chain's plugins send requests to.
func (ch *Chain) Services() []string {
	if ch == nil {
		return nil
	}
	return ch.services
}

// HasBody reports whether any plugin filters response bodies.
func (ch *Chain) HasBody() bool { return ch != nil && len(ch.body) > 0 }

// Runner runs a chain's phases for one request. The proxy keeps one in its
// request context; its zero value is ready after Reset.
type Runner struct {
	ch      *Chain
	Slots   [MaxChain]Slot
	metrics *Metrics
	log     *slog.Logger
	body    BodyWriter
}

// Reset prepares r for a request through ch (nil: no plugins).
func (r *Runner) Reset(ch *Chain, m *Metrics, log *slog.Logger) {
	if r.ch != nil {
		clear(r.Slots[:len(r.ch.insts)])
	}
	r.ch, r.metrics, r.log = ch, m, log
}

// Active reports whether the request has plugins.
func (r *Runner) Active() bool { return r.ch != nil && len(r.ch.insts) > 0 }

// recovered turns a panic in a hook into a 500 for the request, counted
// under the plugin's name, instead of taking the process down.
func (r *Runner) recovered(c Ctx, slot int, v any, answer bool) {
	name := r.ch.names[slot]
	if r.metrics != nil {
		r.metrics.Panicked(name)
	}
	if r.log != nil {
		r.log.Error("plugin: panic recovered; request answered 500", "plugin", name, "panic", v)
	}
	if answer && !c.Responded() {
		c.Respond(500, []byte("500 internal error\n"))
	}
}

// Request runs the request and access phases.
func (r *Runner) Request(c Ctx) Action {
	if r.ch == nil {
		return Continue
	}
	if answering(r, c, r.ch.request, RequestHandler.Request) == Stop {
		return Stop
	}
	return answering(r, c, r.ch.access, AccessHandler.Access)
}

// Upstream runs the upstream phase.
func (r *Runner) Upstream(c Ctx) Action {
	if r.ch == nil {
		return Continue
	}
	return answering(r, c, r.ch.upstream, UpstreamHandler.Upstream)
}

// answering runs the hooks of a phase that may answer the request, until
// one does; a panic is recovered as a 500 answer.
func answering[H any](r *Runner, c Ctx, hooks []hook[H], call func(H, Ctx, *Slot) Action) (act Action) {
	slot := -1
	defer func() {
		if v := recover(); v != nil {
			r.recovered(c, slot, v, true)
			act = Stop
		}
	}()
	for _, h := range hooks {
		slot = h.slot
		if call(h.h, c, &r.Slots[h.slot]) == Stop {
			return Stop
		}
	}
	return Continue
}

// Response runs the response phase. A panic here leaves the response as it
// is (the status may already be the upstream's); it is counted and logged.
func (r *Runner) Response(c Ctx) {
	if r.ch == nil || len(r.ch.response) == 0 {
		return
	}
	slot := -1
	defer func() {
		if v := recover(); v != nil {
			r.recovered(c, slot, v, false)
		}
	}()
	for _, h := range r.ch.response {
		slot = h.slot
		h.h.Response(c, &r.Slots[h.slot])
	}
}

// Body returns the writer the response body goes through on its way to w,
// and whether any plugin filters it. Close the result when the body ends.
// The writer belongs to the runner (no allocation): a caller that writes
// the body after the request's runner is reused must copy it first.
func (r *Runner) Body(c Ctx, w io.Writer) (*BodyWriter, bool) {
	if r.ch == nil || len(r.ch.body) == 0 {
		return nil, false
	}
	bw := &r.body
	*bw = BodyWriter{}
	out := w
	for i := len(r.ch.body) - 1; i >= 0 && bw.n < len(bw.filters); i-- {
		h := r.ch.body[i]
		if f := h.h.ResponseBody(c, &r.Slots[h.slot], out); f != nil {
			bw.filters[bw.n] = f
			bw.n++
			out = f
		}
	}
	if bw.n == 0 {
		return nil, false
	}
	bw.head = out
	return bw, true
}

// Log runs the log phase.
func (r *Runner) Log(c Ctx, o *Outcome) {
	if r.ch == nil || len(r.ch.log) == 0 {
		return
	}
	slot := -1
	defer func() {
		if v := recover(); v != nil {
			r.recovered(c, slot, v, false)
		}
	}()
	for _, h := range r.ch.log {
		slot = h.slot
		h.h.Log(c, &r.Slots[h.slot], o)
	}
}

// maxBodyFilters bounds the body filters of one response.
const maxBodyFilters = 4

// BodyWriter is a response body's way through the body filters.
type BodyWriter struct {
	head    io.Writer
	filters [maxBodyFilters]io.WriteCloser // innermost (closest to the client) first
	n       int
}

// Write sends p through the filters.
func (b *BodyWriter) Write(p []byte) (int, error) { return b.head.Write(p) }

type flusher interface{ Flush() error }

// Flush pushes what the filters hold on to the client, outermost first.
func (b *BodyWriter) Flush() error {
	for i := b.n - 1; i >= 0; i-- {
		if f, ok := b.filters[i].(flusher); ok {
			if err := f.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close ends the body: each filter writes what it has left, outermost first.
func (b *BodyWriter) Close() error {
	var first error
	for i := b.n - 1; i >= 0; i-- {
		if err := b.filters[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
