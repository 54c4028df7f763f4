package wafbypass

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"pylon.io/pylon/internal/plugin"
)

// check is one question to the WAF and its answer. Its buffers come from a
// pool, so asking does not allocate once the pool is warm. The request's
// hook and the goroutine talking to the WAF share it: the hook may stop
// waiting (timeout, client gone) while the exchange still runs, so each
// side releases it, and the last one returns it to the pool.
type check struct {
	method, host, uri []byte
	// hdr holds header names and values back to back; ends[i] is where
	// the i-th name or value ends.
	hdr  []byte
	ends []int
	// xff is the client's X-Forwarded-For, all lines joined; the client's
	// address is appended to it.
	xff  []byte
	body []byte
	// visit is bound to the check once, so VisitHeaders does not allocate.
	visit func(name, value []byte)

	// The WAF's answer, written by the exchange before done.
	status          int
	respBody        []byte
	ctype, location []byte
	err             error
	done            chan struct{}

	refs atomic.Int32
}

var checks = sync.Pool{New: func() any {
	k := &check{done: make(chan struct{}, 1)}
	k.visit = k.addClientHeader
	return k
}}

// getCheck returns a check held by two: the hook and the exchange.
func getCheck() *check {
	k := checks.Get().(*check)
	k.refs.Store(2)
	return k
}

// maxKeep keeps one huge request from pinning its buffers in the pool.
const maxKeep = 1 << 20

// release drops one holder; the last puts the check back.
func (k *check) release() {
	if k.refs.Add(-1) != 0 {
		return
	}
	if cap(k.body) > maxKeep || cap(k.hdr) > maxKeep || cap(k.respBody) > maxKeep {
		return
	}
	k.method, k.host, k.uri = k.method[:0], k.host[:0], k.uri[:0]
	k.hdr, k.ends, k.xff, k.body = k.hdr[:0], k.ends[:0], k.xff[:0], k.body[:0]
	k.status, k.respBody, k.ctype, k.location, k.err = 0, k.respBody[:0], k.ctype[:0], k.location[:0], nil
	select {
	case <-k.done: // an answer the hook never took
	default:
	}
	checks.Put(k)
}

// copyRequest copies what the WAF is to see: the request as the client
// sent it, plus the gateway's word on who the client is.
func (k *check) copyRequest(c plugin.Ctx) {
	k.method = append(k.method, c.Method()...)
	k.host = append(k.host, c.Host()...)
	k.uri = append(k.uri, c.Path()...)
	if q := c.RawQuery(); len(q) > 0 {
		k.uri = append(k.uri, '?')
		k.uri = append(k.uri, q...)
	}
	c.VisitHeaders(k.visit)
	if len(k.xff) > 0 {
		k.xff = append(k.xff, ", "...)
	}
	k.xff = append(k.xff, c.ClientIP()...)
	k.addHeader(hXFF, k.xff)
	k.addHeader(hRealIP, c.ClientIP())
	if c.TLS() {
		k.addHeader(hProto, schemeHTTPS)
	} else {
		k.addHeader(hProto, schemeHTTP)
	}
	if id := c.RequestID(); len(id) > 0 {
		k.addHeader(hRequestID, id)
	}
}

var (
	hXFF, hRealIP, hProto, hRequestID = []byte("X-Forwarded-For"), []byte("X-Real-Ip"), []byte("X-Forwarded-Proto"), []byte("X-Request-Id")
	schemeHTTP, schemeHTTPS           = []byte("http"), []byte("https")
)

// addClientHeader copies one of the client's headers. Those the gateway
// speaks for (the client's address, scheme and request ID) are its own;
// hop-by-hop headers describe the client's connection, not the request.
func (k *check) addClientHeader(name, value []byte) {
	switch {
	case bytes.EqualFold(name, hXFF):
		if len(k.xff) > 0 {
			k.xff = append(k.xff, ", "...)
		}
		k.xff = append(k.xff, value...)
	case bytes.EqualFold(name, hRealIP), bytes.EqualFold(name, hProto), bytes.EqualFold(name, hRequestID):
	case skipHeader(name):
	default:
		k.addHeader(name, value)
	}
}

func (k *check) addHeader(name, value []byte) {
	k.hdr = append(k.hdr, name...)
	k.ends = append(k.ends, len(k.hdr))
	k.hdr = append(k.hdr, value...)
	k.ends = append(k.ends, len(k.hdr))
}

// eachHeader calls fn for every header of the copy.
func (k *check) eachHeader(fn func(name, value []byte)) {
	start := 0
	for i := 0; i+1 < len(k.ends); i += 2 {
		n, v := k.ends[i], k.ends[i+1]
		fn(k.hdr[start:n], k.hdr[n:v])
		start = v
	}
}

// hopByHop are the headers that describe one connection, not the request;
// Host and Content-Length are set from the copy itself.
var hopByHop = [][]byte{
	[]byte("Connection"), []byte("Keep-Alive"), []byte("Proxy-Connection"), []byte("TE"),
	[]byte("Trailer"), []byte("Transfer-Encoding"), []byte("Upgrade"), []byte("Content-Length"),
	[]byte("Host"), []byte("Expect"), []byte("Http2-Settings"),
}

func skipHeader(name []byte) bool {
	for _, h := range hopByHop {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// Timers are pooled: one per request would be an allocation each. Stop
// and Reset leave no stale tick behind (Go 1.23 timers).
var timers sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}
