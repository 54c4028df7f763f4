package proxy

import (
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// ServeFast is the HTTP/1.1 engine's handler: it fills the context from
// fasthttp's parsed request and runs the pipeline.
func (p *Proxy) ServeFast(fc *fasthttp.RequestCtx) { p.serveFast(fc, nil) }

func (p *Proxy) serveFast(fc *fasthttp.RequestCtx, from *origin) {
	c := acquireCtx()
	if from != nil {
		c.trusted, c.listener = from.trusted, from.stats
	}
	defer releaseCtx(c)
	c.start = time.Now()
	var o outcome
	defer func() {
		if v := recover(); v != nil {
			p.panicked(c, v)
			fc.Response.Reset()
			fc.SetStatusCode(fasthttp.StatusInternalServerError)
			fc.SetConnectionClose()
			o.status = fasthttp.StatusInternalServerError
		}
		// A streamed body (from an HTTP/2 upstream) is sent after the handler
		// returns: reading it here would buffer the whole stream first.
		sent := 0
		if !fc.Response.IsBodyStream() {
			sent = len(fc.Response.Body())
		} else if n := fc.Response.Header.ContentLength(); n > 0 {
			sent = n
		}
		p.finish(c, &o, sent)
	}()

	c.fast = fc
	c.fastCl.fc = fc
	c.cl = &c.fastCl
	c.method = fc.Method()
	c.host = fc.Host()
	c.path = fc.Path()
	c.tls = fc.IsTLS()
	c.clientIP = appendIP(c.ipBuf[:0], fc.RemoteAddr())
	req := &fc.Request

	status, reason, seen := checkFastRequest(fc)
	if status != 0 {
		// A request the gateway cannot read one way only (smuggling shapes,
		// invalid header bytes) is refused, and its connection closed:
		// what follows it on the connection cannot be trusted either.
		o.status = p.refuse(c, status, reason)
		fc.SetConnectionClose()
		return
	}
	c.absent = allHeaders &^ seen
	// The client's own Connection: close is remembered before the header
	// goes upstream (prepareUpstream drops it).
	if req.Header.ConnectionClose() || hasCloseToken(req.Header.Peek("Connection")) {
		defer fc.SetConnectionClose()
	}
	p.serve(c, &o)
}

// fastClient is the HTTP/1.1 engine's side of a request.
type fastClient struct{ fc *fasthttp.RequestCtx }

var _ client = (*fastClient)(nil)

func (f *fastClient) proto() string {
	if f.fc.Request.Header.IsHTTP11() {
		return "HTTP/1.1"
	}
	return "HTTP/1.0"
}

func (f *fastClient) header() headerEditor { return (*fastHeader)(&f.fc.Request.Header) }
func (f *fastClient) escapedPath() []byte  { return f.fc.Request.URI().PathOriginal() }

func (f *fastClient) upgrade() bool {
	h := &f.fc.Request.Header
	return h.ConnectionUpgrade() && isWebSocketUpgrade(h.Peek("Upgrade"))
}

func (f *fastClient) resetResponse()                       { f.fc.Response.Reset() }
func (f *fastClient) setResponseHeader(name, value string) { f.fc.Response.Header.Set(name, value) }
func (f *fastClient) writeHeader(status int)               { f.fc.SetStatusCode(status) }
func (f *fastClient) bodyWriter() io.Writer                { return f.fc.Response.BodyWriter() }

func (f *fastClient) writeBody(body []byte, stable bool) {
	if stable {
		f.fc.Response.SetBodyRaw(body)
		return
	}
	// The context's buffers are reused once the handler returns, before
	// the engine writes the body: copy.
	f.fc.Response.SetBody(body)
}
