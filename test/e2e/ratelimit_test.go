package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// Local limits as a client sees them: RateLimit headers on every answer,
// 429 with Retry-After past the limit, a redirect instead when configured,
// and one limit per API key.
func TestRateLimitLocal(t *testing.T) {
	t.Parallel()
	listen, listenH2C := testenv.FreeAddr(t), testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	startGateway(t, fmt.Sprintf(`
listeners:
  - { name: web, address: %s, protocol: http }
  - { name: h2c, address: %s, protocol: h2c }
services:
  - name: a
    endpoints: [%q]
routes:
`, listen, listenH2C, a)+
		route("limited", "limited.example.com", "a",
			`plugins: [{name: rate-limit, config: {rate: 3, period: 1h, algorithm: fixed-window}}]`)+
		route("redirect", "redirect.example.com", "a",
			`plugins: [{name: rate-limit, config: {rate: 1, period: 1h, reject: {redirect: "https://www.example.com/slow", status: 307}}}]`)+
		route("bykey", "bykey.example.com", "a",
			`plugins: [{name: rate-limit, config: {rate: 2, period: 1h, key: "header:X-Api-Key", reject: {status: 503, body: "quota", headers: {X-Quota: "api-key"}}}}]`)+
		route("h2", "h2.example.com", "a",
			`plugins: [{name: rate-limit, config: {rate: 2, period: 1h}}]`))
	c := newClient()
	get := func(host string, headers ...string) response {
		return do(t, c, "GET", "http://"+listen+"/", host, headers...)
	}

	t.Run("429 and RateLimit headers", func(t *testing.T) {
		for i := range 3 {
			r := get("limited.example.com")
			if r.Status != 200 || r.Header.Get("RateLimit-Limit") != "3" || r.Header.Get("RateLimit-Remaining") != fmt.Sprint(2-i) {
				t.Fatalf("request %d: %d limit %q remaining %q", i+1, r.Status, r.Header.Get("RateLimit-Limit"), r.Header.Get("RateLimit-Remaining"))
			}
			if reset := r.Header.Get("RateLimit-Reset"); reset == "" || reset == "0" {
				t.Fatalf("request %d: RateLimit-Reset %q", i+1, reset)
			}
		}
		r := get("limited.example.com")
		if r.Status != 429 || r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("Retry-After") == "" ||
			!strings.Contains(r.Body, "too many requests") {
			t.Fatalf("4th request: %d %v %q", r.Status, r.Header, r.Body)
		}
	})
	t.Run("redirect", func(t *testing.T) {
		if r := get("redirect.example.com"); r.Status != 200 {
			t.Fatalf("first request: %d", r.Status)
		}
		r := get("redirect.example.com")
		if r.Status != 307 || r.Header.Get("Location") != "https://www.example.com/slow" {
			t.Fatalf("second request: %d Location %q, want 307 to the slow page", r.Status, r.Header.Get("Location"))
		}
	})
	t.Run("key by header", func(t *testing.T) {
		for range 2 {
			if r := get("bykey.example.com", "X-Api-Key: k1"); r.Status != 200 {
				t.Fatalf("k1: %d", r.Status)
			}
		}
		r := get("bykey.example.com", "X-Api-Key: k1")
		if r.Status != 503 || r.Body != "quota" || r.Header.Get("X-Quota") != "api-key" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("k1 over its limit: %d %q %v", r.Status, r.Body, r.Header)
		}
		if r := get("bykey.example.com", "X-Api-Key: k2"); r.Status != 200 {
			t.Fatalf("k2 has a limit of its own: %d", r.Status)
		}
	})
	t.Run("HTTP/2", func(t *testing.T) {
		h2 := h2cClient(listenH2C)
		for i := range 3 {
			r := do(t, h2, "GET", "http://"+listenH2C+"/", "h2.example.com")
			want, remaining := 200, fmt.Sprint(1-i)
			if i == 2 {
				want, remaining = 429, "0"
			}
			if r.Status != want || r.Header.Get("RateLimit-Limit") != "2" || r.Header.Get("RateLimit-Remaining") != remaining {
				t.Fatalf("request %d over HTTP/2: %d %v, want %d with %s remaining", i+1, r.Status, r.Header, want, remaining)
			}
			if i == 2 && r.Header.Get("Retry-After") == "" {
				t.Fatalf("429 over HTTP/2 without Retry-After: %v", r.Header)
			}
		}
	})
}

// A concurrency limit refuses the request past max while the others are in
// flight, and admits again once they finished.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	startGateway(t, pluginConfig(listen, a, "",
		route("slow", "slow.example.com", "a", `plugins: [{name: concurrency-limit, config: {max: 2}}]`)))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if r := do(t, newClient(), "GET", "http://"+listen+"/delay/1500", "slow.example.com"); r.Status != 200 {
				t.Errorf("slow request: %d %s", r.Status, r.Body)
			}
		})
	}
	c := newClient()
	time.Sleep(300 * time.Millisecond) // both slow requests in flight; a probe now would race them
	eventually(t, time.Second, "third request refused", func() (bool, string) {
		r := do(t, c, "GET", "http://"+listen+"/", "slow.example.com")
		return r.Status == 503, fmt.Sprint(r.Status)
	})
	wg.Wait()
	if r := do(t, c, "GET", "http://"+listen+"/", "slow.example.com"); r.Status != 200 {
		t.Fatalf("after the slow ones finished: %d", r.Status)
	}
}

// load sends GETs for host to each listener from workers goroutines per
// listener, each pacing itself to one request per every, and counts the
// answers by status, per listener. Bounded client-side load keeps the
// run honest on a small machine.
type load struct {
	ok, refused, failed atomic.Int64
	stop                chan struct{}
	wg                  sync.WaitGroup
}

func startLoad(listeners []string, host string, workers int, every time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	for _, addr := range listeners {
		for range workers {
			l.wg.Go(func() {
				c := newClient()
				c.Timeout = 5 * time.Second
				next := time.Now()
				for {
					select {
					case <-l.stop:
						return
					default:
					}
					r, err := tryDo(c, "GET", "http://"+addr+"/", host)
					switch {
					case err != nil:
						l.failed.Add(1)
					case r.Status == 200:
						l.ok.Add(1)
					case r.Status == 429:
						l.refused.Add(1)
					default:
						l.failed.Add(1)
					}
					next = next.Add(every)
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					} else {
						next = time.Now()
					}
				}
			})
		}
	}
	return l
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// admittedOver counts the requests l admitted from the next whole second
// on, over d (whole windows of the 1s limits below).
func (l *load) admittedOver(d time.Duration) (admitted, refused int64) {
	start := time.Now().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start))
	ok0, ref0 := l.ok.Load(), l.refused.Load()
	time.Sleep(time.Until(start.Add(d)))
	return l.ok.Load() - ok0, l.refused.Load() - ref0
}

func within(got, want int64, frac float64) bool {
	d := float64(got-want) / float64(want)
	return d >= -frac && d <= frac
}
