package proxy

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// fastSender sends over an endpoint's HTTP/1.1 client. For an HTTP/1.1
// client the request is the client's own, prepared in place, and without
// body filters the answer is read straight into the client's response:
// nothing is copied. For an HTTP/2 client the request is built once, its
// body buffered, so retries can resend it.
type fastSender struct {
	req    *fasthttp.Request
	resp   *fasthttp.Response
	kept   *fasthttp.Response
	ownReq bool // req is own, built from an HTTP/2 client's request
	own    fasthttp.Request
	// clientResp is the HTTP/1.1 client's own response, when answers are
	// read into it in place (no body filters); never released here.
	clientResp *fasthttp.Response
}

var _ sender = (*fastSender)(nil)

func (s *fastSender) prepare(c *Ctx) (int, string) {
	if c.fast != nil {
		s.req = &c.fast.Request
		// The client's own Connection: close is the engine's to honour;
		// the upstream connection stays pooled either way.
		s.req.Header.ResetConnectionClose()
		if !c.run.HasBody() {
			s.resp, s.clientResp = &c.fast.Response, &c.fast.Response
		} else {
			s.resp = fasthttp.AcquireResponse()
		}
		return 0, ""
	}
	// An HTTP/2 (or HTTP/3) client: build the HTTP/1.1 request.
	r := c.std
	s.req, s.ownReq = &s.own, true
	s.resp = fasthttp.AcquireResponse()
	s.req.Header.SetMethod(r.Method)
	s.req.SetRequestURI(c.forwardURI())
	s.req.Header.SetHost(r.Host)
	if c.upHost != "" {
		s.req.Header.SetHost(c.upHost)
	}
	for k, vv := range r.Header {
		// Framing is Pylon's to set: a client's own Content-Length (an
		// HTTP/2 body is framed by DATA frames) or a Host beside :authority
		// would desynchronise a pooled HTTP/1.1 connection (request
		// smuggling) or reach the upstream as another virtual host.
		if framingHeader(k) {
			continue
		}
		for _, v := range vv {
			s.req.Header.Add(k, v)
		}
	}
	// HTTP/2 bodies are length-delimited by frames; a buffered copy, bounded
	// like any request body, keeps retries possible and gives the upstream
	// a Content-Length.
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
		if _, ok := c.guard.tooLarge(); ok {
			return 413, "request body too large"
		}
		if err != nil {
			return 400, "request body read error"
		}
		if len(data) > maxBufferedBody {
			return 413, "request body too large"
		}
		s.req.SetBodyRaw(data)
	}
	return 0, ""
}

func (s *fastSender) send(c *Ctx, e *upstream.Endpoint, deadline time.Time) (int, error) {
	if s.resp == s.kept {
		// The last answer is kept aside: this try reads into another.
		s.resp = fasthttp.AcquireResponse()
	} else {
		s.resp.Reset()
	}
	d, perTry := perTryDeadline(c.route, deadline)
	hc := e.Client()
	// The client-side scheme must not leak into the upstream request:
	// fasthttp refuses a URI scheme that differs from the client's.
	if hc.IsTLS {
		s.req.URI().SetScheme("https")
	} else {
		s.req.URI().SetScheme("http")
	}
	e.Begin()
	var t0 time.Time
	if e.TracksLatency() {
		t0 = time.Now()
	}
	err := hc.DoDeadline(s.req, s.resp, d)
	e.End()
	if !t0.IsZero() {
		e.Observe(time.Since(t0), err != nil || s.resp.StatusCode() >= 500)
	}
	if err != nil {
		if perTry && classify(err) == telemetry.UpstreamTimeout && time.Now().Before(deadline) {
			err = fmt.Errorf("%w %v: %w", errPerTry, c.route.Retry.PerTryTimeout, err)
		}
		return 0, err
	}
	return s.resp.StatusCode(), nil
}

func (s *fastSender) replayable() bool { return !s.req.IsBodyStream() }

func (s *fastSender) keep() {
	if s.kept != nil && s.kept != s.resp {
		s.drop(s.kept)
	}
	s.kept = s.resp
}

func (s *fastSender) restore() bool {
	if s.kept == nil {
		return false
	}
	if s.resp != s.kept {
		s.drop(s.resp)
	}
	s.resp = s.kept
	return true
}

// drop frees a response of this sender's that will not be relayed.
func (s *fastSender) drop(r *fasthttp.Response) {
	if r == nil {
		return
	}
	if r == s.clientResp {
		r.Reset()
		return
	}
	fasthttp.ReleaseResponse(r)
}

func (s *fastSender) release() {
	if s.kept != nil && s.kept != s.resp {
		s.drop(s.kept)
	}
	s.drop(s.resp)
	s.reset()
}

// reset readies the sender for the next request.
func (s *fastSender) reset() {
	if s.ownReq {
		s.own.Reset()
	}
	s.req, s.resp, s.kept, s.clientResp = nil, nil, nil, nil
	s.ownReq = false
}

// framingHeader reports whether name is one the proxy sets itself.
func framingHeader(name string) bool {
	switch name {
	case "Content-Length", "Host", "Transfer-Encoding", "Connection", "Keep-Alive", "Te", "Upgrade", "Proxy-Connection":
		return true
	}
	return false
}

// maxBufferedBody bounds an HTTP/2 request body read into memory for an
// HTTP/1.1 upstream (the listener checks only a declared Content-Length).
const maxBufferedBody = 64 << 20

func (s *fastSender) setHeader(name string, value []byte) {
	s.req.Header.SetCanonical(unsafeBytes(name), value) // a canonical constant, as headerEditor.set's
}
