package telemetry

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pylon.io/pylon/internal/telemetry/tracing"
)

// codeSlots is how many distinct status codes a route counts inline. Most
// routes answer with a handful of codes; a route that sees more spills into
// a full table allocated on demand.
const codeSlots = 8

// codeIndexes covers status codes 100..599 at indexes 1..500; index 0
// collects anything outside that range, which a broken upstream can send.
const codeIndexes = 501

func codeIndex(code int) uint64 {
	if code < 100 || code > 599 {
		return 0
	}
	return uint64(code - 99)
}

// slotShift packs a code index into the top bits of a slot and its count
// into the low 48 bits, so that claiming a slot and counting in it are each
// one atomic operation.
const slotShift = 48

// RouteStats counts the requests of one route. It is created once per route
// when the config is compiled (see Metrics.Route) and referenced from the
// compiled route, so the request path reaches it without a lookup or a lock.
// A nil *RouteStats ignores observations.
type RouteStats struct {
	route, service string

	slots    [codeSlots]atomic.Uint64
	overflow atomic.Pointer[[codeIndexes]atomic.Uint64]
	hist     atomic.Pointer[histogram]
}

// Observe records one finished request. It neither locks nor allocates,
// except on a route's first request (the histogram) and on its ninth
// distinct status code (the overflow table).
func (s *RouteStats) Observe(code int, d time.Duration) {
	if s == nil {
		return
	}
	s.count(codeIndex(code))
	h := s.hist.Load()
	if h == nil {
		s.hist.CompareAndSwap(nil, new(histogram))
		h = s.hist.Load()
	}
	h.observe(d)
}

// ObserveTraced is Observe for a sampled request, whose trace id becomes
// the exemplar of its latency bucket.
func (s *RouteStats) ObserveTraced(code int, d time.Duration, traceID [16]byte) {
	if s == nil {
		return
	}
	s.count(codeIndex(code))
	h := s.hist.Load()
	if h == nil {
		s.hist.CompareAndSwap(nil, new(histogram))
		h = s.hist.Load()
	}
	h.observeTraced(d, traceID)
}

func (s *RouteStats) count(idx uint64) {
	for i := range s.slots {
		v := s.slots[i].Load()
		if v == 0 {
			if s.slots[i].CompareAndSwap(0, idx<<slotShift|1) {
				return
			}
			v = s.slots[i].Load() // another request claimed it first
		}
		if v>>slotShift == idx {
			s.slots[i].Add(1)
			return
		}
	}
	// Slots are claimed in order and never released, so a code found in a
	// slot is never counted here too.
	t := s.overflow.Load()
	if t == nil {
		s.overflow.CompareAndSwap(nil, new([codeIndexes]atomic.Uint64))
		t = s.overflow.Load()
	}
	t[idx].Add(1)
}

// eachCode calls fn for every code with a non-zero count.
func (s *RouteStats) eachCode(fn func(idx, n uint64)) {
	for i := range s.slots {
		if v := s.slots[i].Load(); v != 0 {
			fn(v>>slotShift, v&(1<<slotShift-1))
		}
	}
	if t := s.overflow.Load(); t != nil {
		for idx := range t {
			if n := t[idx].Load(); n != 0 {
				fn(uint64(idx), n)
			}
		}
	}
}

// durationBounds are the request duration buckets, prometheus.DefBuckets
// kept as durations so that observing needs no float conversion.
var durationBounds = [...]time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// histogram is a lock-free histogram with fixed buckets. The count is not
// stored: it is the sum of the buckets, so a scrape always sees a count
// consistent with its buckets.
type histogram struct {
	counts   [len(durationBounds) + 1]atomic.Uint64 // last is +Inf
	sumNanos atomic.Int64
	// exemplars are the last traced request of each bucket, for a
	// Prometheus exemplar linking the bucket to a trace.
	exemplars [len(durationBounds) + 1]atomic.Pointer[exemplar]
}

// exemplar is one traced request's latency.
type exemplar struct {
	traceID [16]byte
	value   time.Duration
	at      time.Time
}

// observeTraced is observe for a sampled request: it also becomes its
// bucket's exemplar (one small allocation, on sampled requests only).
func (h *histogram) observeTraced(d time.Duration, traceID [16]byte) {
	i := 0
	for i < len(durationBounds) && d > durationBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(int64(d))
	h.exemplars[i].Store(&exemplar{traceID: traceID, value: d, at: time.Now()})
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(durationBounds) && d > durationBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(int64(d))
}

// snapshot returns the count, the sum in seconds and the cumulative buckets
// keyed by upper bound in seconds, as prometheus.NewConstHistogram expects.
func (h *histogram) snapshot() (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(durationBounds))
	for i, b := range durationBounds {
		count += h.counts[i].Load()
		buckets[b.Seconds()] = count
	}
	count += h.counts[len(durationBounds)].Load()
	return count, time.Duration(h.sumNanos.Load()).Seconds(), buckets
}

// UpstreamErrorKind says how a request to an upstream failed.
type UpstreamErrorKind uint8

// The kinds of upstream errors, exported as the kind label.
const (
	UpstreamConnect UpstreamErrorKind = iota // the connection could not be opened
	UpstreamTimeout                          // the upstream did not answer in time
	UpstreamReset                            // the upstream closed or reset the connection mid-request
	upstreamKinds
)

var upstreamKindNames = [upstreamKinds]string{"connect", "timeout", "reset"}

// UpstreamStats counts the errors talking to one service. Like RouteStats it
// is resolved once, when the upstream pool is built, and reached without a
// lookup afterwards. A nil *UpstreamStats ignores errors.
type UpstreamStats struct {
	service string
	errs    [upstreamKinds]atomic.Uint64
}

// Error counts one failed attempt of the given kind.
func (s *UpstreamStats) Error(kind UpstreamErrorKind) {
	if s == nil || kind >= upstreamKinds {
		return
	}
	s.errs[kind].Add(1)
}

// serviceTotals sum the requests of a service's routes: the forgotten ones
// (kept by Metrics) and, at scrape time, the live ones. A service answers
// with a few codes, so they are a short list rather than a table of every
// code: 100,000 services cost a few megabytes per scrape, not hundreds.
type serviceTotals struct {
	codes    []codeCount
	buckets  [len(durationBounds) + 1]uint64 // not cumulative; last is +Inf
	sumNanos int64
}

type codeCount struct{ idx, n uint64 }

func (t *serviceTotals) count(idx, n uint64) {
	for i := range t.codes {
		if t.codes[i].idx == idx {
			t.codes[i].n += n
			return
		}
	}
	t.codes = append(t.codes, codeCount{idx, n})
}

// add adds what s counted.
func (t *serviceTotals) add(s *RouteStats) {
	s.eachCode(t.count)
	if h := s.hist.Load(); h != nil {
		for i := range h.counts {
			t.buckets[i] += h.counts[i].Load()
		}
		t.sumNanos += h.sumNanos.Load()
	}
}

// clone returns a copy that adding to leaves t as it is.
func (t *serviceTotals) clone() *serviceTotals {
	c := *t
	c.codes = slices.Clone(t.codes)
	return &c
}

// histogram returns the count, sum in seconds and cumulative buckets, as
// histogram.snapshot does.
func (t *serviceTotals) histogram() (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(durationBounds))
	for i, b := range durationBounds {
		count += t.buckets[i]
		buckets[b.Seconds()] = count
	}
	count += t.buckets[len(durationBounds)]
	return count, time.Duration(t.sumNanos).Seconds(), buckets
}

// total is the number of requests s counted.
func (s *RouteStats) total() uint64 {
	var n uint64
	s.eachCode(func(_, c uint64) { n += c })
	return n
}

// ListenerStats counts the answers given on one listener, routed or not,
// as RouteStats does a route's. A nil *ListenerStats ignores observations.
type ListenerStats struct {
	name  string
	stats RouteStats
}

// Observe records one finished request; it neither locks nor allocates
// (but as RouteStats.Observe does).
func (l *ListenerStats) Observe(code int, d time.Duration) {
	if l != nil {
		l.stats.Observe(code, d)
	}
}

// ObserveTraced is Observe for a sampled request (see RouteStats.ObserveTraced).
func (l *ListenerStats) ObserveTraced(code int, d time.Duration, traceID [16]byte) {
	if l != nil {
		l.stats.ObserveTraced(code, d, traceID)
	}
}

// withExemplars adds the histogram's exemplars to m, its exported form;
// they show in the OpenMetrics format only (Prometheus asks for it when
// exemplar storage is on).
func (h *histogram) withExemplars(m prometheus.Metric) prometheus.Metric {
	var ex []prometheus.Exemplar
	for i := range h.exemplars {
		if e := h.exemplars[i].Load(); e != nil {
			var hex [32]byte
			tracing.AppendHex(hex[:0], e.traceID[:])
			ex = append(ex, prometheus.Exemplar{Value: e.value.Seconds(), Timestamp: e.at,
				Labels: prometheus.Labels{"trace_id": string(hex[:])}})
		}
	}
	if len(ex) == 0 {
		return m
	}
	out, err := prometheus.NewMetricWithExemplars(m, ex...)
	if err != nil {
		return m
	}
	return out
}
