package listener

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"
)

// serveFastRequest hands one HTTP/1.1 request to the proxy. A request that
// takes its connection over (a WebSocket upgrade) ends the watch for
// request heads on it: what follows is no longer HTTP/1.1.
func (l *Listener) serveFastRequest(ctx *fasthttp.RequestCtx) {
	l.h.Fast(ctx)
	if ctx.Hijacked() {
		if w := watcher(ctx.Conn()); w != nil {
			w.stop()
		}
	}
}

// fastError answers a request the HTTP/1.1 engine could not read: it was
// malformed, over a limit or too slow. The connection is closed after the
// answer, and the refusal is reported so that it is logged and counted.
func (l *Listener) fastError(ctx *fasthttp.RequestCtx, err error) {
	status, reason := fastRefusal(err)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fasthttp.StatusMessage(status) + "\n")
	ctx.SetConnectionClose()

	r := Refusal{Proto: "HTTP/1.1", Remote: ctx.RemoteAddr(), Status: status, Reason: reason}
	// The engine clears a head it could not parse. A head it kept (the body
	// was at fault: too large, badly chunked) names the request.
	if h := &ctx.Request.Header; len(h.RawHeaders()) > 0 {
		r.Proto = string(h.Protocol())
		r.Method = string(h.Method())
		r.Host = string(h.Host())
		r.Path = string(ctx.Path())
	}
	l.refused(r)
}

// fastRefusal maps an HTTP/1.1 engine error to the status answered and the
// reason logged.
func fastRefusal(err error) (status int, reason string) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		return fasthttp.StatusRequestHeaderFieldsTooLarge, "header too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "body too large"
	case errors.Is(err, errBareLF):
		return fasthttp.StatusBadRequest, reasonBareLF
	case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		// RFC 9112 6.1: a transfer coding the server does not know is 501,
		// as nginx answers it.
		return fasthttp.StatusNotImplemented, "unsupported transfer-encoding"
	case errors.Is(err, fasthttp.ErrDuplicateContentLength):
		return fasthttp.StatusBadRequest, "conflicting content-length"
	case errors.Is(err, fasthttp.ErrUnsupportedRequestMethod), errors.Is(err, fasthttp.ErrMissingRequestMethod):
		return fasthttp.StatusBadRequest, "method is not a token"
	case errors.As(err, &ne) && ne.Timeout():
		return fasthttp.StatusRequestTimeout, "request timeout"
	}
	return fasthttp.StatusBadRequest, "malformed request"
}
