package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// fastViaStd forwards an HTTP/1.1 request to an HTTP/2 or h2c pool.
func (p *Proxy) fastViaStd(fc *fasthttp.RequestCtx, c *Ctx, route *Route, b *Backend, o *outcome) {
	req := &fc.Request
	h := make(http.Header)
	for k, v := range req.Header.All() {
		h.Add(string(k), string(v))
	}
	h.Del("Host")
	body := req.Body()
	// The context must outlive this function: the engine streams the
	// response body after the handler returns, and closes it when done.
	ctx, cancel := context.WithTimeout(context.Background(), route.timeout())
	host := string(c.host)
	if c.upHost != "" {
		host = c.upHost
	}
	resp, err := p.roundTripStd(ctx, c, route, b, o, string(c.method), host, c.forwardURI(), h,
		io.NopCloser(bytes.NewReader(body)), int64(len(body)))
	if err != nil {
		cancel()
		status, msg := statusForErr(err)
		o.failure = failureOf(err)
		o.status = p.fastErrorPhase(fc, c, p.fastError(fc, status, msg))
		return
	}
	o.upStatus, o.status = resp.StatusCode, resp.StatusCode
	fc.SetStatusCode(resp.StatusCode)
	for k, vv := range resp.Header {
		if isHopHeader(k) {
			continue
		}
		for _, v := range vv {
			fc.Response.Header.Add(k, v)
		}
	}
	o.status = p.fastResponsePhase(fc, c, resp.StatusCode)
	if c.run.HasBody() {
		p.fastFilterStream(fc, c, resp.Body, int(resp.ContentLength), func() { _ = resp.Body.Close(); cancel() })
		return
	}
	// The engine streams the body and closes it when done.
	fc.Response.SetBodyStream(cancelOnClose{resp.Body, cancel}, int(resp.ContentLength))
}

// stdViaFast forwards an HTTP/2 request to an HTTP/1.1 pool.
func (p *Proxy) stdViaFast(ctx context.Context, w http.ResponseWriter, r *http.Request, c *Ctx, route *Route, b *Backend, o *outcome, guard *bodyGuard) {
	freq := fasthttp.AcquireRequest()
	fresp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(freq)
	defer fasthttp.ReleaseResponse(fresp)
	freq.Header.SetMethod(r.Method)
	freq.SetRequestURI(c.forwardURI())
	freq.Header.SetHost(r.Host)
	if c.upHost != "" {
		freq.Header.SetHost(c.upHost)
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
			freq.Header.Add(k, v)
		}
	}
	// HTTP/2 bodies are length-delimited by frames; a buffered copy, bounded
	// like any request body, keeps retries possible and gives the upstream
	// a Content-Length.
	if r.Body != nil && r.ContentLength != 0 {
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBufferedBody+1))
		if body, ok := guard.tooLarge(); ok {
			o.status = p.stdTooLarge(w, c, body)
			return
		}
		if err != nil {
			o.status = stdError(w, http.StatusBadRequest, "request body read error")
			return
		}
		if len(data) > maxBufferedBody {
			o.status = stdError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		freq.SetBodyRaw(data)
	}
	deadline, _ := ctx.Deadline()
	idempotent := route.Retry.NonIdempotent || idempotentMethod(c.method)
	var prev *upstream.Endpoint
	for try := 1; ; try++ {
		e := b.Pool.Pick(c, prev)
		if e == nil {
			o.failure = "no-endpoint"
			o.status = p.stdRouteError(w, c, http.StatusServiceUnavailable, "no healthy upstream")
			return
		}
		o.endpoint = e
		err := sendFast(e, route, freq, fresp, deadline)
		if err != nil {
			e.ReportFailure()
			kind := classify(err)
			b.Errors.Error(kind)
			retry := kind == telemetry.UpstreamConnect || (idempotent && kind == telemetry.UpstreamReset)
			if retry && try < route.Retry.Attempts && time.Now().Before(deadline) {
				prev = e
				continue
			}
			o.failure = failureName(kind)
			o.status = p.stdRouteError(w, c, errorStatus(kind), errorText(kind))
			return
		}
		o.upStatus = fresp.StatusCode()
		if o.upStatus >= 502 && o.upStatus <= 504 {
			e.ReportFailure()
		} else {
			e.ReportSuccess()
		}
		if idempotent && route.Retry.RetryOnStatus(o.upStatus) && try < route.Retry.Attempts && time.Now().Before(deadline) {
			fresp.Reset()
			prev = e
			continue
		}
		break
	}
	o.status = o.upStatus
	hdr := w.Header()
	for k, v := range fresp.Header.All() {
		ks := string(k)
		if isHopHeader(ks) || ks == "Content-Length" {
			continue
		}
		hdr.Add(ks, string(v))
	}
	o.status = p.stdResponsePhase(w, c, o.upStatus)
	w.WriteHeader(o.status)
	var out io.Writer = w
	bw, filtered := c.run.Body(c, w)
	if filtered {
		out = &flushingBody{bw: bw, w: w}
	}
	if fresp.IsBodyStream() {
		// A streamed upstream body (events, long downloads) is passed on
		// read by read with a flush each time, not gathered first.
		_, _ = copyFlush(out, fresp.BodyStream())
	} else {
		_, _ = out.Write(fresp.Body())
	}
	if filtered {
		_ = bw.Close()
	}
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

// maxBufferedBody bounds an HTTP/2 request body read into memory for an
// HTTP/1.1 upstream (the listener checks only a declared Content-Length).
const maxBufferedBody = 64 << 20

// framingHeader reports whether name is one the proxy sets itself.
func framingHeader(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "host", "transfer-encoding", "connection", "keep-alive", "te", "upgrade", "proxy-connection":
		return true
	}
	return false
}
