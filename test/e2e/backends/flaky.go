package backends

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Flaky is an HTTP backend that fails a set share of its requests, which a
// test changes while it runs (a service going bad and recovering). Failures
// are spread evenly, not at random: with FailPercent 60, exactly 6 of every
// 10 consecutive requests answer 500, so tests can count on exact numbers.
type Flaky struct {
	Addr string
	fail atomic.Int64
	n    atomic.Int64
}

// StartFlaky starts a Flaky backend on 127.0.0.1, healthy until
// SetFailPercent. Successes answer 200 "ok", failures 500 "fail"; both
// carry X-Backend: name.
func StartFlaky(t testing.TB, name string) *Flaky {
	t.Helper()
	f := &Flaky{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		if f.failNext() {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("fail\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	srv.Listener.Close()
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	f.Addr = srv.Listener.Addr().String()
	return f
}

// SetFailPercent sets the share of requests answered 500, from now on.
func (f *Flaky) SetFailPercent(p int) { f.fail.Store(int64(p)) }

// Requests returns how many requests the backend has received.
func (f *Flaky) Requests() int64 { return f.n.Load() }

// failNext decides the next request: the k-th request since start fails
// when floor(k·p/100) steps up, so failures are evenly spread at rate p.
func (f *Flaky) failNext() bool {
	k := f.n.Add(1)
	p := f.fail.Load()
	return k*p/100 > (k-1)*p/100
}
