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
	pos  int // in the ordering table
	h    H
}

// Chain is one route's flattened, ordered plugins, split by phase so the
// request path runs a precompiled slice per phase and looks nothing up.
type Chain struct {
	key   string
	refs  int
	rt    *Runtime // its consumers; nil for chains built outside a runtime
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
	pos := positionOf(inst.name)
	ch.insts = append(ch.insts, inst)
	ch.names = append(ch.names, inst.name)
	v := inst.v
	if h, ok := v.(RequestHandler); ok {
		ch.request = append(ch.request, hook[RequestHandler]{slot, pos, h})
	}
	if h, ok := v.(AccessHandler); ok {
		ch.access = append(ch.access, hook[AccessHandler]{slot, pos, h})
	}
	if h, ok := v.(UpstreamHandler); ok {
		ch.upstream = append(ch.upstream, hook[UpstreamHandler]{slot, pos, h})
	}
	if h, ok := v.(ResponseHandler); ok {
		ch.response = append(ch.response, hook[ResponseHandler]{slot, pos, h})
	}
	if h, ok := v.(BodyHandler); ok {
		ch.body = append(ch.body, hook[BodyHandler]{slot, pos, h})
	}
	if h, ok := v.(LogHandler); ok {
		ch.log = append(ch.log, hook[LogHandler]{slot, pos, h})
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
	ch *Chain
	ns string // the route's namespace, where consumers are looked up
	// cc is the authenticated client's consumer, once an auth plugin has
	// named one that has plugins; its hooks run merged with the chain's.
	cc      *Consumer
	looked  bool // the consumer was looked up (found or not)
	Slots   [MaxChain + MaxConsumerChain]Slot
	metrics *Metrics
	log     *slog.Logger
	body    BodyWriter
}

// Reset prepares r for a request through ch (nil: no plugins) on a route
// of namespace ns.
func (r *Runner) Reset(ch *Chain, ns string, m *Metrics, log *slog.Logger) {
	if r.ch != nil {
		clear(r.Slots[:len(r.ch.insts)])
		if r.cc != nil {
			clear(r.Slots[MaxChain : MaxChain+len(r.cc.chain.insts)])
		}
	}
	r.ch, r.ns, r.cc, r.looked, r.metrics, r.log = ch, ns, nil, false, m, log
}

// Active reports whether the request has plugins.
func (r *Runner) Active() bool { return r.ch != nil && len(r.ch.insts) > 0 }

// Consumer returns the consumer whose plugins run for this request, or nil.
func (r *Runner) Consumer() *Consumer { return r.cc }

// HasBody reports whether any plugin of the request filters response
// bodies, the consumer's included.
func (r *Runner) HasBody() bool {
	return r.ch.HasBody() || (r.cc != nil && r.cc.chain.HasBody())
}

// nameOf returns the plugin in a slot, the consumer's slots included.
func (r *Runner) nameOf(slot int) string {
	if slot >= MaxChain && r.cc != nil {
		return r.cc.chain.names[slot-MaxChain]
	}
	if r.ch != nil && slot >= 0 && slot < len(r.ch.names) {
		return r.ch.names[slot]
	}
	return "?"
}

// recovered turns a panic in a hook into a 500 for the request, counted
// under the plugin's name, instead of taking the process down.
func (r *Runner) recovered(c Ctx, slot int, v any, answer bool) {
	name := r.nameOf(slot)
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

// walk yields one phase's hooks in order: the chain's, merged by position
// with the consumer's (whose slots start at MaxChain), skipping the chain's
// hooks the consumer overrides and every hook at a position up to after.
type walk[H any] struct {
	route, cons []hook[H]
	cc          *Consumer
	after       int
}

func newWalk[H any](r *Runner, route []hook[H], cons func(*Chain) []hook[H], after int) walk[H] {
	w := walk[H]{route: route, after: after}
	if r.cc != nil {
		w.cc, w.cons = r.cc, cons(r.cc.chain)
	}
	return w
}

// next returns the next hook and its slot, or ok false at the end.
func (w *walk[H]) next() (h H, slot int, ok bool) {
	for {
		if len(w.route) > 0 && (len(w.cons) == 0 || w.route[0].pos < w.cons[0].pos) {
			x := w.route[0]
			w.route = w.route[1:]
			if x.pos <= w.after || (w.cc != nil && w.cc.overrides(x.pos)) {
				continue
			}
			return x.h, x.slot, true
		}
		if len(w.cons) > 0 {
			x := w.cons[0]
			w.cons = w.cons[1:]
			if x.pos <= w.after {
				continue
			}
			return x.h, MaxChain + x.slot, true
		}
		return h, 0, false
	}
}

func requestHooks(ch *Chain) []hook[RequestHandler]   { return ch.request }
func accessHooks(ch *Chain) []hook[AccessHandler]     { return ch.access }
func upstreamHooks(ch *Chain) []hook[UpstreamHandler] { return ch.upstream }
func responseHooks(ch *Chain) []hook[ResponseHandler] { return ch.response }
func bodyHooks(ch *Chain) []hook[BodyHandler]         { return ch.body }
func logHooks(ch *Chain) []hook[LogHandler]           { return ch.log }

// Request runs the request and access phases. When an access hook names
// the client and the route's namespace has a consumer of that name with
// plugins, the consumer's request hooks run there and then, and its access
// hooks after the one that named the client, merged with the chain's.
func (r *Runner) Request(c Ctx) Action {
	if r.ch == nil {
		return Continue
	}
	w := newWalk(r, r.ch.request, requestHooks, -1)
	if answering(r, c, &w, RequestHandler.Request) == Stop {
		return Stop
	}
	return r.access(c)
}

func (r *Runner) access(c Ctx) (act Action) {
	slot := -1
	defer func() {
		if v := recover(); v != nil {
			r.recovered(c, slot, v, true)
			act = Stop
		}
	}()
	// Consumers are looked for only if the runtime has any (one load per
	// request, not per hook).
	lookup := !r.looked && r.ch.rt != nil && r.ch.rt.consumers.table.Load() != nil
	for i, h := range r.ch.access {
		slot = h.slot
		if h.h.Access(c, &r.Slots[h.slot]) == Stop {
			return Stop
		}
		if !lookup || r.looked {
			continue
		}
		name := c.Consumer()
		if name == "" {
			continue
		}
		r.looked = true
		if r.cc = r.ch.rt.Consumer(r.ns, name); r.cc == nil {
			continue
		}
		req := walk[RequestHandler]{cons: r.cc.chain.request, after: -1}
		if answering(r, c, &req, RequestHandler.Request) == Stop {
			return Stop
		}
		rest := walk[AccessHandler]{route: r.ch.access[i+1:], cons: r.cc.chain.access, cc: r.cc, after: h.pos}
		return answering(r, c, &rest, AccessHandler.Access)
	}
	return Continue
}

// Upstream runs the upstream phase.
func (r *Runner) Upstream(c Ctx) Action {
	if r.ch == nil {
		return Continue
	}
	w := newWalk(r, r.ch.upstream, upstreamHooks, -1)
	return answering(r, c, &w, UpstreamHandler.Upstream)
}

// answering runs the hooks of a phase that may answer the request, until
// one does; a panic is recovered as a 500 answer.
func answering[H any](r *Runner, c Ctx, w *walk[H], call func(H, Ctx, *Slot) Action) (act Action) {
	slot := -1
	defer func() {
		if v := recover(); v != nil {
			r.recovered(c, slot, v, true)
			act = Stop
		}
	}()
	for {
		h, s, ok := w.next()
		if !ok {
			return Continue
		}
		slot = s
		if call(h, c, &r.Slots[s]) == Stop {
			return Stop
		}
	}
}

// Response runs the response phase. A panic here leaves the response as it
// is (the status may already be the upstream's); it is counted and logged.
func (r *Runner) Response(c Ctx) {
	if r.ch == nil || (len(r.ch.response) == 0 && r.cc == nil) {
		return
	}
	slot := -1
	defer func() {
		if v := recover(); v != nil {
			r.recovered(c, slot, v, false)
		}
	}()
	w := newWalk(r, r.ch.response, responseHooks, -1)
	for {
		h, s, ok := w.next()
		if !ok {
			return
		}
		slot = s
		h.Response(c, &r.Slots[s])
	}
}

// Body returns the writer the response body goes through on its way to w,
// and whether any plugin filters it. Close the result when the body ends.
// The writer belongs to the runner (no allocation): a caller that writes
// the body after the request's runner is reused must copy it first.
func (r *Runner) Body(c Ctx, w io.Writer) (*BodyWriter, bool) {
	if !r.HasBody() {
		return nil, false
	}
	// Filters wrap from the last hook inwards: collect the hooks in order.
	var hooks [maxBodyFilters * 2]struct {
		h    BodyHandler
		slot int
	}
	n := 0
	bw := newWalk(r, r.ch.body, bodyHooks, -1)
	for n < len(hooks) {
		h, s, ok := bw.next()
		if !ok {
			break
		}
		hooks[n].h, hooks[n].slot = h, s
		n++
	}
	b := &r.body
	*b = BodyWriter{}
	out := w
	for i := n - 1; i >= 0 && b.n < len(b.filters); i-- {
		if f := hooks[i].h.ResponseBody(c, &r.Slots[hooks[i].slot], out); f != nil {
			b.filters[b.n] = f
			b.n++
			out = f
		}
	}
	if b.n == 0 {
		return nil, false
	}
	b.head = out
	return b, true
}

// Log runs the log phase.
func (r *Runner) Log(c Ctx, o *Outcome) {
	if r.ch == nil || (len(r.ch.log) == 0 && r.cc == nil) {
		return
	}
	slot := -1
	defer func() {
		if v := recover(); v != nil {
			r.recovered(c, slot, v, false)
		}
	}()
	w := newWalk(r, r.ch.log, logHooks, -1)
	for {
		h, s, ok := w.next()
		if !ok {
			return
		}
		slot = s
		h.Log(c, &r.Slots[s], o)
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
