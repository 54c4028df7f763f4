package upstream

import (
	"context"
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// epoch anchors a monotonic clock in one int64, so ejection deadlines fit in an
// atomic and do not jump with wall-clock changes.
var epoch = time.Now()

func mono() int64 { return int64(time.Since(epoch)) }

// Endpoint is one address of a pool. Its identity is stable across config
// updates that keep its address, and so are its health state, its in-flight
// count and its connections.
type Endpoint struct {
	// inflight is written on every request; keep it on its own cache line so
	// it does not slow reads of the fields below on other cores.
	inflight atomic.Int64
	_        [56]byte

	addr    string
	service string
	weight  atomic.Int32

	// Active health, written only by the pool's checker.
	activeDown atomic.Bool

	// Passive health: an ejection deadline on the mono clock, 0 when not ejected.
	ejectedUntil atomic.Int64
	failures     atomic.Int32
	ejectAfter   atomic.Int32 // consecutive failures that eject; 0 = off
	ejectFor     atomic.Int64 // ejection time in nanoseconds

	client atomic.Pointer[fasthttp.HostClient]
	tr     atomic.Pointer[transport]

	// Peak-EWMA latency, for the EWMA policy only (tracking is off under
	// the others): the estimate in nanoseconds and when it was last moved.
	tracking  atomic.Bool
	ewma      atomic.Int64
	ewmaStamp atomic.Int64
}

// ewmaDecay is the EWMA's time constant: a sample's weight falls to 1/e
// after this long, and so does an idle endpoint's estimate, so one that
// was slow is tried again after a while (as Finagle's peak EWMA does).
const ewmaDecay = 10 * time.Second

// ewmaMinPull is the least share by which a sample below the estimate
// pulls it down. The time-based pull alone is tiny between samples a
// fraction of a millisecond apart, so on a busy endpoint one peak (the
// gateway's own stall: a GC pause, a CPU throttled by its cgroup) would
// stand for seconds and send traffic to a truly slower endpoint; with the
// floor, some dozens of ordinary samples wear it off.
const ewmaMinPull = 0.05

// failurePenalty is the latency a failed try counts as: a refused
// connection answers fast, and must not draw traffic for it.
const failurePenalty = time.Second

// TracksLatency reports whether the endpoint's pool balances by latency,
// so that callers time a try only when Observe will use it.
func (e *Endpoint) TracksLatency() bool { return e.tracking.Load() }

// Observe records how long a try took to get its response headers, for
// the EWMA policy: a sample above the estimate replaces it at once (the
// peak), one below pulls it down by its share of the time since the last
// one, and by ewmaMinPull at least. A failed try counts as failurePenalty
// at least.
func (e *Endpoint) Observe(rtt time.Duration, failed bool) {
	if !e.tracking.Load() {
		return
	}
	if failed {
		rtt = max(rtt, failurePenalty)
	}
	now := mono()
	for range 4 { // lost races leave the estimate to the winner's sample
		old, last := e.ewma.Load(), e.ewmaStamp.Load()
		next := int64(rtt)
		if old != 0 && next < old {
			w := min(math.Exp(-float64(now-last)/float64(ewmaDecay)), 1-ewmaMinPull)
			next = int64(float64(old)*w + float64(rtt)*(1-w))
		}
		if e.ewma.CompareAndSwap(old, next) {
			e.ewmaStamp.Store(now)
			return
		}
	}
}

// latency returns the estimate decayed to now, as if a zero sample came:
// an endpoint nobody picks drifts back into the choice.
func (e *Endpoint) latency(now int64) float64 {
	v := float64(e.ewma.Load())
	if v == 0 {
		return 0
	}
	return v * math.Exp(-float64(now-e.ewmaStamp.Load())/float64(ewmaDecay))
}

func newEndpoint(service string, ep EndpointConfig, tr *transport) *Endpoint {
	e := &Endpoint{addr: ep.Address, service: service}
	e.weight.Store(weightOf(ep))
	e.setTransport(tr)
	return e
}

// setTransport moves the endpoint to a new generation of connection settings.
// The old client's idle connections are closed; requests in flight on it keep
// their connection until they finish.
func (e *Endpoint) setTransport(tr *transport) {
	e.tr.Store(tr)
	if old := e.client.Swap(tr.hostClient(e.addr)); old != nil {
		old.CloseIdleConnections()
	}
}

func (e *Endpoint) setPassive(p PassiveCheck) {
	e.ejectAfter.Store(int32(p.ConsecutiveFailures))
	e.ejectFor.Store(int64(p.EjectionTime))
	if p.ConsecutiveFailures == 0 {
		e.ejectedUntil.Store(0)
		e.failures.Store(0)
	}
}

// Address returns the endpoint's host:port.
func (e *Endpoint) Address() string { return e.addr }

// Weight returns the endpoint's configured weight.
func (e *Endpoint) Weight() int { return int(e.weight.Load()) }

// InFlight returns the number of requests between Begin and End.
func (e *Endpoint) InFlight() int64 { return e.inflight.Load() }

// Healthy reports whether neither the active checker nor passive ejection
// holds the endpoint out of rotation.
func (e *Endpoint) Healthy() bool {
	if e.activeDown.Load() {
		return false
	}
	return !e.ejected()
}

// ActiveHealthy reports the active checker's verdict (true without checks).
func (e *Endpoint) ActiveHealthy() bool { return !e.activeDown.Load() }

// Ejected reports whether passive checks currently hold the endpoint out.
func (e *Endpoint) Ejected() bool { return e.ejected() }

func (e *Endpoint) ejected() bool {
	until := e.ejectedUntil.Load()
	return until != 0 && mono() < until
}

// Client returns the HTTP/1.1 client for this endpoint. It is replaced only when
// the pool's connection settings change, so callers should fetch it per request
// rather than keep it.
func (e *Endpoint) Client() *fasthttp.HostClient { return e.client.Load() }

// Dial opens a raw connection to the endpoint, over TLS (ALPN http/1.1) when
// the pool uses TLS. It is meant for WebSocket upgrades, which leave HTTP.
func (e *Endpoint) Dial(ctx context.Context) (net.Conn, error) {
	return e.tr.Load().dial(ctx, e.addr)
}

// Begin records a request sent to the endpoint; LeastRequest reads the count.
func (e *Endpoint) Begin() { e.inflight.Add(1) }

// End records that a request begun with Begin finished.
func (e *Endpoint) End() { e.inflight.Add(-1) }

// ReportSuccess records a good outcome (a response the proxy did not count as
// an upstream failure) and clears the failure streak.
func (e *Endpoint) ReportSuccess() {
	// Load first: on the common path the streak is already zero and a store
	// would bounce the cache line between cores for nothing.
	if e.failures.Load() != 0 {
		e.failures.Store(0)
	}
}

// ReportFailure records a failed request (connect error, timeout, 5xx as the
// proxy defines it). ConsecutiveFailures in a row eject the endpoint for
// EjectionTime. When the ejection ends the endpoint is tried again on
// probation: a single further failure ejects it again, a success restores it
// fully.
func (e *Endpoint) ReportFailure() {
	limit := e.ejectAfter.Load()
	if limit <= 0 {
		return
	}
	// Failures of requests that were already in flight when it was ejected say
	// nothing new; they must not extend the ejection.
	if e.ejected() {
		return
	}
	if e.failures.Add(1) < limit {
		return
	}
	e.ejectedUntil.Store(mono() + e.ejectFor.Load())
	e.failures.Store(limit - 1)
}
