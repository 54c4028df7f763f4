package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"pylon.io/pylon/internal/upstream"
)

// h2Sender sends over a pool's HTTP/2 (TLS) or h2c transport. An HTTP/2
// client's body streams through as it arrives (so it is sent once); an
// HTTP/1.1 client's body is already buffered and can be resent.
type h2Sender struct {
	method, host string
	u            *url.URL
	header       http.Header
	body         io.ReadCloser
	buffered     []byte // an HTTP/1.1 client's body
	length       int64
	ctx          context.Context
	cancel       context.CancelFunc

	resp, kept *http.Response
	tried      bool
	ownHeader  bool // header is this try's copy (setHeader)
}

var _ sender = (*h2Sender)(nil)

func (s *h2Sender) prepare(c *Ctx) (int, string) {
	s.host = string(c.host)
	if c.upHost != "" {
		s.host = c.upHost
	}
	u, err := url.ParseRequestURI(c.forwardURI())
	if err != nil {
		return 400, "bad request path"
	}
	s.u = u
	if c.fast != nil {
		req := &c.fast.Request
		s.method = string(c.method)
		s.header = make(http.Header)
		for k, v := range req.Header.All() {
			s.header.Add(string(k), string(v))
		}
		s.header.Del("Host")
		s.header.Del("Content-Length")
		s.buffered = req.Body()
		s.length = int64(len(s.buffered))
		// The context must outlive the handler: the engine streams the
		// response body after the handler returns, and closes it when done.
		s.ctx, s.cancel = context.WithTimeout(context.Background(), c.route.timeout())
		return 0, ""
	}
	r := c.std
	s.method, s.header = r.Method, r.Header
	s.body, s.length = r.Body, r.ContentLength
	s.ctx, s.cancel = context.WithTimeout(r.Context(), c.route.timeout())
	return 0, ""
}

func (s *h2Sender) send(c *Ctx, e *upstream.Endpoint, deadline time.Time) (int, error) {
	if s.resp != nil && s.resp != s.kept {
		s.resp.Body.Close()
	}
	s.resp = nil
	pool := c.backend.Pool
	// The URL is the same for every try but the endpoint's address. The
	// first try uses the parsed one; a retry gets a copy, since a try cut
	// by its timeout may still be encoding its headers on the transport's
	// goroutine.
	u := s.u
	if s.tried {
		cp := *s.u
		u = &cp
	}
	s.tried, s.ownHeader = true, false
	u.Scheme, u.Host = "https", e.Address()
	if pool.Protocol() == upstream.H2C {
		u.Scheme = "http"
	}
	out := &http.Request{
		Method: s.method, URL: u, Host: s.host, Header: s.header,
		Proto: "HTTP/2.0", ProtoMajor: 2, ProtoMinor: 0,
		ContentLength: s.length, Body: http.NoBody,
	}
	switch {
	case s.buffered != nil && len(s.buffered) > 0:
		out.Body = io.NopCloser(bytes.NewReader(s.buffered))
	case s.body != nil && s.length != 0:
		out.Body = s.body
	}
	// The per-try timeout bounds the wait for the response headers; a
	// stream that then runs longer (gRPC, events) is not cut.
	tctx, cancelTry := context.WithCancel(s.ctx)
	var timer *time.Timer
	if pt := c.route.Retry.PerTryTimeout; pt > 0 && time.Now().Add(pt).Before(deadline) {
		timer = time.AfterFunc(pt, cancelTry)
	}
	e.Begin()
	var t0 time.Time
	if e.TracksLatency() {
		t0 = time.Now()
	}
	resp, err := pool.H2Transport().RoundTrip(out.WithContext(tctx))
	perTryExpired := timer != nil && !timer.Stop()
	if !t0.IsZero() && !c.clientGone() { // a cancelled call says nothing of the endpoint
		e.Observe(time.Since(t0), err != nil || perTryExpired || resp.StatusCode >= 500)
	}
	if err == nil && !perTryExpired {
		// In flight until the body is done, not just the headers: a gRPC
		// stream counts for least-request as long as it lasts.
		resp.Body = &endOnClose{ReadCloser: resp.Body, e: e, cancel: cancelTry}
		s.resp = resp
		return resp.StatusCode, nil
	}
	if err == nil {
		resp.Body.Close()
	}
	cancelTry()
	e.End()
	if perTryExpired {
		err = fmt.Errorf("%w %v: %w", errPerTry, c.route.Retry.PerTryTimeout, context.DeadlineExceeded)
	}
	return 0, err
}

// replayable: a streamed body goes once; a buffered or empty one again.
func (s *h2Sender) replayable() bool { return s.body == nil || s.length == 0 }

func (s *h2Sender) keep() {
	if s.kept != nil && s.kept != s.resp {
		s.kept.Body.Close()
	}
	s.kept = s.resp
}

func (s *h2Sender) restore() bool {
	if s.kept == nil {
		return false
	}
	if s.resp != nil && s.resp != s.kept {
		s.resp.Body.Close()
	}
	s.resp = s.kept
	return true
}

// dropKept closes a kept answer that a later one replaced.
func (s *h2Sender) dropKept() {
	if s.kept != nil && s.kept != s.resp {
		s.kept.Body.Close()
	}
	s.kept = nil
}

func (s *h2Sender) release() {
	s.dropKept()
	if s.resp != nil {
		s.resp.Body.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.reset()
}

// reset readies the sender for the next request; what was relayed is the
// engine's to close.
func (s *h2Sender) reset() { *s = h2Sender{} }

// endOnClose ends an endpoint's in-flight count (and the try's context)
// when the body is closed.
type endOnClose struct {
	io.ReadCloser
	e      *upstream.Endpoint
	cancel context.CancelFunc
	once   sync.Once
}

func (b *endOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.cancel()
		b.e.End()
	})
	return err
}

// cancelOnClose ends a request's context when its response body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// setHeader sets a header for the next try. After a try the header map
// is copied first: a try cut by its timeout may still be encoding it.
func (s *h2Sender) setHeader(name string, value []byte) {
	if s.tried && !s.ownHeader {
		s.header, s.ownHeader = s.header.Clone(), true
	}
	s.header.Set(name, string(value))
}
