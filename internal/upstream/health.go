package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// checker is a pool's active health checker: one goroutine that probes every
// endpoint each interval and flips an endpoint's active verdict after
// HealthyThreshold passes or UnhealthyThreshold failures in a row.
//
// New endpoints start healthy (as in nginx and Caddy) rather than waiting for
// HealthyThreshold passes: a freshly scaled-up service should take traffic at
// once, and passive checks catch a bad one within a few requests.
type checker struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has exited
}

type streak struct{ pass, fail int }

func startChecker(p *Pool, a ActiveCheck) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{cancel: cancel, done: make(chan struct{})}
	go c.run(ctx, p, &a)
	return c
}

// stop asks the goroutine to end without waiting for probes in flight, so a
// config update is never held up by a slow endpoint. A stopped checker writes
// no more verdicts.
func (c *checker) stop() { c.cancel() }

func (c *checker) run(ctx context.Context, p *Pool, a *ActiveCheck) {
	defer close(c.done)
	t := time.NewTicker(a.Interval)
	defer t.Stop()
	// Streaks live here, not on the endpoint, so a checker restarted by a
	// config change never races the one it replaces; the verdicts themselves
	// (Endpoint.activeDown) carry over.
	streaks := map[*Endpoint]streak{}
	for {
		streaks = c.round(ctx, p, a, streaks)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *checker) round(ctx context.Context, p *Pool, a *ActiveCheck, prev map[*Endpoint]streak) map[*Endpoint]streak {
	eps := p.snap.Load().eps
	tr := p.tr.Load()
	errs := make([]error, len(eps))
	var wg sync.WaitGroup
	for i, e := range eps {
		wg.Go(func() { errs[i] = probe(ctx, tr, e, a) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return prev
	}
	next := make(map[*Endpoint]streak, len(eps))
	for i, e := range eps {
		s := prev[e]
		if errs[i] == nil {
			s.pass, s.fail = s.pass+1, 0
		} else {
			s.pass, s.fail = 0, s.fail+1
		}
		next[e] = s
		down := e.activeDown.Load()
		switch {
		case down && s.pass >= a.HealthyThreshold:
			e.activeDown.Store(false)
			p.log.Info("upstream endpoint healthy", "endpoint", e.addr, "check", a.Type)
		case !down && s.fail >= a.UnhealthyThreshold:
			e.activeDown.Store(true)
			p.log.Warn("upstream endpoint unhealthy", "endpoint", e.addr, "check", a.Type, "err", errs[i])
		}
	}
	return next
}

// probe runs one check against e and returns why it failed, or nil.
func probe(ctx context.Context, tr *transport, e *Endpoint, a *ActiveCheck) error {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	if a.Type == "tcp" {
		// A TCP check proves the port accepts connections; it does not
		// complete a TLS handshake even on TLS pools.
		c, err := tr.dialer.DialContext(ctx, "tcp", e.addr)
		if err != nil {
			return fmt.Errorf("upstream: service %q: endpoint %s: tcp check: %w", e.service, e.addr, err)
		}
		return c.Close()
	}
	host := a.Host
	if host == "" {
		host = e.addr
	}
	if a.Type == "grpc" {
		if err := grpcProbe(ctx, tr, e, a, host); err != nil {
			return fmt.Errorf("upstream: service %q: endpoint %s: grpc check: %w", e.service, e.addr, err)
		}
		return nil
	}
	var code int
	if tr.h2 != nil {
		// Check over HTTP/2 so the probe exercises the protocol traffic uses.
		scheme := "https"
		if tr.key.protocol == H2C {
			scheme = "http"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+e.addr+a.Path, nil)
		if err != nil {
			return fmt.Errorf("upstream: service %q: endpoint %s: http check: %w", e.service, e.addr, err)
		}
		req.Host = host
		resp, err := tr.h2.RoundTrip(req)
		if err != nil {
			return fmt.Errorf("upstream: service %q: endpoint %s: http check: %w", e.service, e.addr, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		code = resp.StatusCode
	} else {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(a.Path)
		req.Header.SetHost(host)
		req.Header.SetUserAgent("pylon-health-check")
		// The endpoint's own client: the check then also keeps a connection
		// warm. Its scheme must match the client's, or fasthttp refuses it.
		hc := e.Client()
		if hc.IsTLS {
			req.URI().SetScheme("https")
		}
		if err := hc.DoTimeout(req, resp, a.Timeout); err != nil {
			return fmt.Errorf("upstream: service %q: endpoint %s: http check: %w", e.service, e.addr, err)
		}
		code = resp.StatusCode()
	}
	if !a.statusExpected(code) {
		return fmt.Errorf("upstream: service %q: endpoint %s: http check %s: unexpected status %d", e.service, e.addr, a.Path, code)
	}
	return nil
}
