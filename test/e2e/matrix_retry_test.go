package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
)

// retryCases: one retry decision for every path. The failing try comes
// first on every request: the "once" paths fail the first request of their
// key on whichever endpoint it lands, and weights put the dead endpoint
// first.
func retryCases() []matrixCase {
	return []matrixCase{
		{name: "retry-connect", skip: always, run: caseRetryConnect},
		{name: "retry-reset", skip: idempotentOnly, run: func(t *testing.T, p pair) { retryOnce(t, p, "retry", "reset", 0) }},
		// The slow try takes 3s; the per-try timeout is 1s.
		{name: "retry-per-try-timeout", skip: idempotentOnly, run: func(t *testing.T, p pair) { retryOnce(t, p, "slow", "slow", 2500*time.Millisecond) }},
		{name: "retry-status", skip: idempotentOnly, run: func(t *testing.T, p pair) { retryOnce(t, p, "retry", "503", 0) }},
		{name: "retry-last-answer", skip: idempotentOnly, run: caseRetryLastAnswer},
		{name: "retry-budget", skip: idempotentOnly, run: caseRetryBudget},
	}
}

// idempotentOnly skips the cases whose retries need a request that may be
// sent twice.
func idempotentOnly(p pair) string {
	switch p.client.family {
	case famGRPC:
		return "gRPC calls are POSTs: only connect errors are retried for them (retry-connect)"
	case famWS:
		return "an upgrade that reached an upstream is not sent again: only connect errors are retried for it (retry-connect)"
	}
	return ""
}

// caseRetryConnect: an endpoint that refuses the connection costs nothing
// but another try, for any request (nothing was sent).
func caseRetryConnect(t *testing.T, p pair) {
	o := p.send(t, request{host: p.host("connect"), path: "/connect", header: [][2]string{{backends.KeyHeader, p.id()}}})
	if saw := upstreamSaw(t, o); saw.Backend != p.up.name+"-a" {
		t.Fatalf("answered by %q", saw.Backend)
	}
}

// retryOnce: the first try of the request fails as mode says; the client
// gets the second try's answer, within bound when that is set. Exactly two
// tries reach the upstreams: the gateway's retry policy is the only one.
func retryOnce(t *testing.T, p pair, route, mode string, bound time.Duration) {
	key := p.id()
	start := time.Now()
	o := p.send(t, request{host: p.host(route), path: "/once/" + mode, header: [][2]string{{backends.KeyHeader, key}}})
	took := time.Since(start)
	tries := len(p.m.journal.Seen(key))
	if o.err != nil || o.status != http.StatusOK || o.saw == nil {
		t.Fatalf("want the retry's 200, got %v after %v and %d tries", o, took.Round(time.Millisecond), tries)
	}
	if tries != 2 {
		t.Errorf("upstreams got %d tries, want 2", tries)
	}
	if bound > 0 && took > bound {
		t.Errorf("took %v, want under %v: the per-try timeout should end the first try", took, bound)
	}
}

// caseRetryLastAnswer: a 503 and then a connect error: the client gets
// the 503, the last answer an upstream really gave, and the access log
// names both tries.
func caseRetryLastAnswer(t *testing.T, p pair) {
	rid := p.id()
	o := p.send(t, request{host: p.host("last"), path: "/status/503", header: [][2]string{{"X-Request-Id", rid}}})
	if o.status != http.StatusServiceUnavailable || o.saw == nil {
		t.Errorf("want the upstream's own 503, got %v", o)
	}
	_, line := p.m.accessEntry(t, rid)
	for _, addr := range []string{p.up.a, p.m.dead} {
		if !strings.Contains(line, addr) {
			t.Errorf("the access log does not name the try to %s:\n%s", addr, line)
		}
	}
}

// caseRetryBudget: with every endpoint failing, retries stay within the
// service's budget (20% of the requests in flight, at least 3) instead of
// multiplying the load by the attempts.
func caseRetryBudget(t *testing.T, p pair) {
	const n = 20
	key := p.id()
	var wg sync.WaitGroup
	got := make([]observed, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = p.send(t, request{host: p.own("budget"), path: "/hold/300/503", header: [][2]string{{backends.KeyHeader, key}}})
		}()
	}
	wg.Wait()
	for i, o := range got {
		if o.status != http.StatusServiceUnavailable {
			t.Errorf("request %d: want the upstream's 503, got %v", i, o)
		}
	}
	retries := len(p.m.journal.Seen(key)) - n
	// Envoy-style: retries in flight under max(3, 20% of requests in
	// flight). With all n in flight together that is 4 at a time; a few
	// more slip in as first tries end. Without a budget it is 2n.
	limit := n*20/100 + 3 + n/5
	if retries < 3 || retries > limit {
		t.Errorf("%d requests made %d retries, want 3 to %d (attempts 3 would allow %d)", n, retries, limit, 2*n)
	}
}
