package upstream

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestRoundRobinDistribution(t *testing.T) {
	r := testRegistry(t)
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t)}
	p, err := r.Acquire(Config{Name: "rr", Endpoints: endpointsOf(bs...)})
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		send(t, p.Pick(nil, nil))
	}
	for _, b := range bs {
		if got := b.hits.Load(); got != 100 {
			t.Errorf("backend %s got %d requests, want 100", b.addr(), got)
		}
	}
}

func TestWeightedRoundRobinSmooth(t *testing.T) {
	r := testRegistry(t)
	a, b, c := newBackend(t), newBackend(t), newBackend(t)
	p, err := r.Acquire(Config{Name: "wrr", Policy: WeightedRoundRobin, Endpoints: []EndpointConfig{
		{Address: a.addr(), Weight: 5}, {Address: b.addr(), Weight: 1}, {Address: c.addr(), Weight: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// nginx's documented sequence for weights 5,1,1 is a a b a c a a.
	want := []string{a.addr(), a.addr(), b.addr(), a.addr(), c.addr(), a.addr(), a.addr()}
	var seq []string
	for range 70 {
		seq = append(seq, send(t, p.Pick(nil, nil)))
	}
	// The cycle may start anywhere; find the rotation that matches.
	found := false
	for off := range 7 {
		match := true
		for i, s := range seq {
			if s != want[(i+off)%7] {
				match = false
				break
			}
		}
		found = found || match
	}
	if !found {
		t.Errorf("sequence %v is not a rotation of nginx's smooth WRR %v", seq[:7], want)
	}
	if a.hits.Load() != 50 || b.hits.Load() != 10 || c.hits.Load() != 10 {
		t.Errorf("hits a=%d b=%d c=%d, want 50/10/10", a.hits.Load(), b.hits.Load(), c.hits.Load())
	}
}

func TestSmoothScheduleLargeWeights(t *testing.T) {
	sched := smoothSchedule([]int32{100000, 50000, 1})
	if len(sched) > maxSchedule+3 {
		t.Fatalf("schedule has %d slots, want at most ~%d", len(sched), maxSchedule)
	}
	counts := map[int32]int{}
	for _, i := range sched {
		counts[i]++
	}
	if counts[2] < 1 || math.Abs(float64(counts[0])/float64(counts[1])-2) > 0.01 {
		t.Errorf("scaled schedule counts %v, want 2:1 and the light endpoint present", counts)
	}
}

func TestLeastRequestPrefersIdle(t *testing.T) {
	r := testRegistry(t)
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t), newBackend(t)}
	p, err := r.Acquire(Config{Name: "p2c", Policy: LeastRequest, Endpoints: endpointsOf(bs...)})
	if err != nil {
		t.Fatal(err)
	}
	busy := p.Endpoints()[0]
	for range 50 {
		busy.Begin() // 50 long requests stuck on the first endpoint
	}
	for range 400 {
		send(t, p.Pick(nil, nil))
	}
	// Power of two choices picks the busy endpoint only when both samples
	// land on it, which they cannot (samples are distinct).
	if got := bs[0].hits.Load(); got != 0 {
		t.Errorf("busy endpoint got %d requests, want 0", got)
	}
	for _, b := range bs[1:] {
		if got := b.hits.Load(); got < 90 || got > 180 {
			t.Errorf("idle endpoint %s got %d of 400, want roughly a third", b.addr(), got)
		}
	}
}

func TestRandomWeighted(t *testing.T) {
	r := testRegistry(t)
	a, b := newBackend(t), newBackend(t)
	p, err := r.Acquire(Config{Name: "rand", Policy: Random, Endpoints: []EndpointConfig{
		{Address: a.addr(), Weight: 3}, {Address: b.addr(), Weight: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for range 20000 {
		counts[p.Pick(nil, nil).Address()]++
	}
	if ratio := float64(counts[a.addr()]) / float64(counts[b.addr()]); ratio < 2.6 || ratio > 3.4 {
		t.Errorf("weight 3:1 gave %v (ratio %.2f)", counts, ratio)
	}
}

func TestPickExcludeAndPanicMode(t *testing.T) {
	for _, pol := range []Policy{RoundRobin, WeightedRoundRobin, LeastRequest, ConsistentHash, Random} {
		t.Run(pol.String(), func(t *testing.T) {
			r := testRegistry(t)
			a, b := newBackend(t), newBackend(t)
			cfg := Config{Name: "x", Policy: pol, HashOn: HashOn{Kind: HashPath},
				Endpoints: endpointsOf(a, b), Passive: PassiveCheck{ConsecutiveFailures: 1}}
			p, err := r.Acquire(cfg)
			if err != nil {
				t.Fatal(err)
			}
			in := &keys{path: []byte("/k")}
			ea, eb := p.Endpoints()[0], p.Endpoints()[1]
			for range 20 {
				if got := p.Pick(in, ea); got != eb {
					t.Fatalf("Pick excluding %s = %v", ea.Address(), got.Address())
				}
			}
			eb.ReportFailure() // eject b: a is the only healthy one
			if got := p.Pick(in, ea); got != ea {
				t.Fatalf("excluded endpoint is the only healthy one; Pick = %v, want it", got.Address())
			}
			ea.ReportFailure() // all ejected: panic mode still answers
			if got := p.Pick(in, nil); got == nil {
				t.Fatal("panic mode: Pick returned nil with every endpoint unhealthy")
			}
			cfg.StrictHealth = true
			if err := r.Update(cfg); err != nil {
				t.Fatal(err)
			}
			if got := p.Pick(in, nil); got != nil {
				t.Fatalf("StrictHealth: Pick = %s, want nil", got.Address())
			}
		})
	}
}

var policies = []Policy{RoundRobin, WeightedRoundRobin, LeastRequest, ConsistentHash, Random, EWMA}

func benchPool(tb testing.TB, pol Policy, n int) *Pool {
	eps := make([]EndpointConfig, n)
	for i := range eps {
		eps[i] = EndpointConfig{Address: fmt.Sprintf("10.0.%d.%d:8080", i/256, i%256), Weight: 1 + i%3}
	}
	p, err := testRegistry(tb).Acquire(Config{Name: "bench", Policy: pol, HashOn: HashOn{Kind: HashHeader, Name: "X-User"}, Endpoints: eps})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, pol := range policies {
		p := benchPool(t, pol, 16)
		in := &keys{header: []byte("user-42")}
		// Eject one endpoint so the skip paths run too.
		eps := p.Endpoints()
		eps[3].activeDown.Store(true)
		if n := testing.AllocsPerRun(1000, func() { p.Pick(in, eps[0]) }); n > 0 {
			t.Errorf("%s: Pick allocates %.1f times per call", pol, n)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, pol := range policies {
		b.Run(pol.String(), func(b *testing.B) {
			p := benchPool(b, pol, 64)
			in := &keys{header: []byte("user-42")}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if e := p.Pick(in, nil); e == nil {
						b.Fatal("nil endpoint")
					}
				}
			})
		})
	}
}

// TestEWMAPrefersTheFastEndpoint: under the ewma policy most picks go to
// the endpoint answering fastest; one that was slow gets tried again once
// its estimate has decayed; failures count as slow; the other policies do
// not track latency at all.
func TestEWMAPrefersTheFastEndpoint(t *testing.T) {
	r := testRegistry(t)
	bs := []*backend{newBackend(t), newBackend(t), newBackend(t)}
	p, err := r.Acquire(Config{Name: "ewma", Policy: EWMA, Endpoints: endpointsOf(bs...)})
	if err != nil {
		t.Fatal(err)
	}
	eps := p.Endpoints()
	fast, slow, failing := eps[0], eps[1], eps[2]
	for range 20 {
		fast.Observe(time.Millisecond, false)
		slow.Observe(80*time.Millisecond, false)
		failing.Observe(time.Microsecond, true) // a refused connection: quick, and a failure
	}
	picks := map[*Endpoint]int{}
	for range 3000 {
		picks[p.Pick(nil, nil)]++
	}
	// Power of two choices picks the slower of a pair only when both
	// samples are it, which they cannot be: the fast endpoint wins every
	// pair it is in (2/3), the slow one the pairs with the failing one.
	if picks[fast] < 1800 || picks[failing] != 0 {
		t.Errorf("picks: fast %d, slow %d, failing %d of 3000; want the fast one in about 2/3 and never the failing one",
			picks[fast], picks[slow], picks[failing])
	}

	// A burst of requests in flight on the fast endpoint makes it cost more.
	for range 200 {
		fast.Begin()
	}
	picks = map[*Endpoint]int{}
	for range 3000 {
		picks[p.Pick(nil, nil)]++
	}
	if picks[slow] < 1800 {
		t.Errorf("with 200 requests in flight on the fast endpoint the slow one got %d of 3000 picks", picks[slow])
	}
	for range 200 {
		fast.End()
	}

	// An estimate nobody refreshes decays: a minute later the slow
	// endpoint is as good as new.
	slow.ewmaStamp.Store(mono() - int64(time.Minute))
	if l := slow.latency(mono()); l > float64(time.Millisecond) {
		t.Errorf("slow endpoint's estimate a minute on: %v, want decayed below 1ms", time.Duration(l))
	}

	// A sample above the estimate replaces it at once.
	fast.Observe(40*time.Millisecond, false)
	if l := time.Duration(fast.ewma.Load()); l != 40*time.Millisecond {
		t.Errorf("after a 40ms peak the estimate is %v", l)
	}

	rr, err := r.Acquire(Config{Name: "rr", Policy: RoundRobin, Endpoints: endpointsOf(newBackend(t))})
	if err != nil {
		t.Fatal(err)
	}
	e := rr.Endpoints()[0]
	e.Observe(time.Second, false)
	if e.ewma.Load() != 0 {
		t.Error("round robin tracks latency")
	}
}

type tagInput struct{ tag []byte }

func (tagInput) Header(string) ([]byte, bool) { return nil, false }
func (tagInput) Cookie(string) ([]byte, bool) { return nil, false }
func (tagInput) ClientIP() []byte             { return nil }
func (tagInput) Path() []byte                 { return nil }
func (t tagInput) Tag() []byte                { return t.tag }

// TestTaggedEndpoints: a tagged request goes to the endpoints with its tag
// and falls back to the untagged ones when none is healthy; an untagged
// request never reaches a tagged endpoint, unless TagFallback lets it when
// no untagged one is healthy.
func TestTaggedEndpoints(t *testing.T) {
	r := testRegistry(t)
	gray, s1, s2 := newBackend(t), newBackend(t), newBackend(t)
	for _, fallback := range []bool{false, true} {
		for _, pol := range policies {
			cfg := Config{Name: fmt.Sprintf("tags-%v-%v", pol, fallback), Policy: pol, TagFallback: fallback,
				HashOn: HashOn{Kind: HashHeader, Name: "x"}, Endpoints: []EndpointConfig{
					{Address: gray.addr(), Weight: 1, Tags: []string{"gray", "canary"}},
					{Address: s1.addr(), Weight: 1}, {Address: s2.addr(), Weight: 1}}}
			p, err := r.Acquire(cfg)
			if err != nil {
				t.Fatal(err)
			}
			eps := p.Endpoints()
			g := eps[0]
			count := func(in HashInput) map[*Endpoint]int {
				got := map[*Endpoint]int{}
				for range 200 {
					got[p.Pick(in, nil)]++
				}
				return got
			}
			if got := count(tagInput{[]byte("gray")}); got[g] != 200 {
				t.Errorf("%v: tagged gray: %d of 200 to the gray endpoint", pol, got[g])
			}
			in := HashInput(tagInput{[]byte("gray")})
			if n := testing.AllocsPerRun(100, func() { p.Pick(in, nil) }); n > 0 {
				t.Errorf("%v: a tagged Pick allocates %.1f times", pol, n)
			}
			if got := count(tagInput{[]byte("canary")}); got[g] != 200 {
				t.Errorf("%v: tagged canary: %d of 200 to the endpoint tagged canary", pol, got[g])
			}
			for _, in := range []HashInput{tagInput{}, tagInput{[]byte("blue")}, nil} {
				if got := count(in); got[g] != 0 {
					t.Errorf("%v: a request without a tag of the pool reached the gray endpoint %d times", pol, got[g])
				}
			}
			g.activeDown.Store(true)
			if got := count(tagInput{[]byte("gray")}); got[g] != 0 || got[eps[1]]+got[eps[2]] != 200 {
				t.Errorf("%v: gray down: %v, want the untagged endpoints", pol, got)
			}
			g.activeDown.Store(false)
			eps[1].activeDown.Store(true)
			eps[2].activeDown.Store(true)
			got := count(tagInput{})
			if fallback && got[g] != 200 {
				t.Errorf("%v with TagFallback: untagged endpoints down: %d of 200 to the gray one", pol, got[g])
			}
			if !fallback && got[g] != 0 {
				t.Errorf("%v: untagged endpoints down: %d of 200 reached the gray one", pol, got[g])
			}
			eps[1].activeDown.Store(false)
			eps[2].activeDown.Store(false)
		}
	}
}

// TestEWMAPeakWearsOffOnABusyEndpoint: a busy endpoint (samples a fraction
// of a millisecond apart) that saw one stall recovers its estimate within
// some dozens of ordinary samples, not over the decay's seconds, so a
// slower endpoint does not take its traffic meanwhile.
func TestEWMAPeakWearsOffOnABusyEndpoint(t *testing.T) {
	r := testRegistry(t)
	p, err := r.Acquire(Config{Name: "ewma", Policy: EWMA, Endpoints: endpointsOf(newBackend(t))})
	if err != nil {
		t.Fatal(err)
	}
	e := p.Endpoints()[0]
	e.Observe(20*time.Millisecond, false) // a stall
	for range 100 {
		e.Observe(500*time.Microsecond, false)
	}
	if l := time.Duration(e.ewma.Load()); l > 2*time.Millisecond {
		t.Errorf("after a 20ms stall and 100 samples of 0.5ms the estimate is %v, want below 2ms", l)
	}
}
