package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/plugin"
)

// fastLocal sends a plugin's own answer (Ctx.Respond) on the HTTP/1.1
// engine, after the response phase has seen it.
func (p *Proxy) fastLocal(fc *fasthttp.RequestCtx, c *Ctx) int {
	fc.Response.Reset()
	fc.SetStatusCode(c.status)
	fc.SetContentType("text/plain; charset=utf-8")
	return p.fastAnswer(fc, c, c.status, c.localBody)
}

// fastAnswer sends a response the gateway makes itself (a plugin's answer,
// a direct response) after the response phase, with its body through the
// body filters: a compressor that chose an encoding must see the body too.
func (p *Proxy) fastAnswer(fc *fasthttp.RequestCtx, c *Ctx, status int, body []byte) int {
	status = p.fastResponsePhase(fc, c, status)
	if bw, ok := c.run.Body(c, fc.Response.BodyWriter()); ok {
		_, _ = bw.Write(body)
		_ = bw.Close()
		return status
	}
	fc.Response.SetBody(body)
	return status
}

// fastErrorPhase lets the response phase see an error the gateway answers
// after routing (no upstream, the upstream failed): custom error pages and
// CORS headers apply to those too. fc.Response holds the error.
func (p *Proxy) fastErrorPhase(fc *fasthttp.RequestCtx, c *Ctx, status int) int {
	if !c.run.Active() {
		return status
	}
	c.localBody = append(c.localBody[:0], fc.Response.Body()...)
	fc.Response.ResetBody()
	return p.fastAnswer(fc, c, status, c.localBody)
}

// stdRouteError is stdError for errors after routing: with plugins, the
// response phase sees them (see fastErrorPhase).
func (p *Proxy) stdRouteError(w http.ResponseWriter, c *Ctx, status int, msg string) int {
	if !c.run.Active() {
		return stdError(w, status, msg)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	return p.stdAnswer(w, c, status, []byte(strconv.Itoa(status)+" "+msg+"\n"))
}

// fastResponsePhase runs the response hooks over fc.Response and returns
// the status the client gets.
func (p *Proxy) fastResponsePhase(fc *fasthttp.RequestCtx, c *Ctx, status int) int {
	if !c.run.Active() {
		return status
	}
	c.responseReady(status, nil)
	c.run.Response(c)
	fc.Response.SetStatusCode(c.status)
	return c.status
}

// forwardFastFiltered forwards over HTTP/1.1 for a route whose plugins
// filter response bodies. The upstream's answer is read into a response of
// its own, so its body (a stream, when the upstream streams) can be passed
// through the filters into the client's.
func (p *Proxy) forwardFastFiltered(fc *fasthttp.RequestCtx, c *Ctx, route *Route, b *Backend, o *outcome, start time.Time) {
	up := fasthttp.AcquireResponse()
	if !p.forwardFast(fc, c, route, b, o, start, up) {
		fasthttp.ReleaseResponse(up)
		o.status = p.fastErrorPhase(fc, c, o.status)
		return
	}
	fc.Response.ResetBody()
	up.Header.CopyTo(&fc.Response.Header)
	o.status = p.fastResponsePhase(fc, c, o.status)
	// A body of known, modest length (most API answers) is filtered in
	// place, keeping a Content-Length and costing no goroutine; a long or
	// open-ended one streams through the filters.
	if n := up.Header.ContentLength(); !up.IsBodyStream() || (n >= 0 && n <= maxFilteredInPlace) {
		body := up.Body()
		if bw, ok := c.run.Body(c, fc.Response.BodyWriter()); ok {
			_, _ = bw.Write(body)
			_ = bw.Close()
		} else {
			fc.Response.SetBody(body)
		}
		fasthttp.ReleaseResponse(up)
		return
	}
	p.fastFilterStream(fc, c, up.BodyStream(), up.Header.ContentLength(), func() {
		_ = up.CloseBodyStream()
		fasthttp.ReleaseResponse(up)
	})
}

// maxFilteredInPlace is the longest upstream body filtered in one piece.
const maxFilteredInPlace = 256 << 10

// fastFilterStream sends src to the client through the body filters, as a
// chunked stream flushed after every read, so streamed responses (events,
// long downloads) keep streaming. done runs when the stream ends.
// length is the body's length when known (-1 otherwise), kept when no
// filter acts.
func (p *Proxy) fastFilterStream(fc *fasthttp.RequestCtx, c *Ctx, src io.Reader, length int, done func()) {
	lw := &lateWriter{}
	filters, ok := c.run.Body(c, lw)
	if !ok {
		fc.Response.SetBodyStream(readCloser{src, done}, length)
		return
	}
	bw := *filters // the runner is reused once the handler returns

	log, metrics := p.log, p.pm
	// The engine runs the writer after the handler returned, so it must
	// not touch c (released by then): the filters were made above.
	fc.Response.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer done()
		defer func() {
			if v := recover(); v != nil {
				if metrics != nil {
					metrics.Panicked("body filter")
				}
				log.Error("plugin: panic in a response body filter; stream cut", "panic", fmt.Sprint(v))
			}
		}()
		lw.w = w
		bp := copyBufPool.Get().(*[]byte)
		defer copyBufPool.Put(bp)
		buf := *bp
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := bw.Write(buf[:n]); werr != nil {
					return
				}
				if bw.Flush() != nil || w.Flush() != nil {
					return
				}
			}
			if err != nil {
				break
			}
		}
		_ = bw.Close()
		_ = w.Flush()
	})
}

// lateWriter is the client side of the body filters, known only once the
// engine starts writing.
type lateWriter struct{ w io.Writer }

func (l *lateWriter) Write(p []byte) (int, error) { return l.w.Write(p) }

type readCloser struct {
	io.Reader
	done func()
}

func (r readCloser) Close() error {
	r.done()
	return nil
}

// logPhase runs the plugins' log hooks once the request is done.
func (p *Proxy) logPhase(c *Ctx, o *outcome, start time.Time) {
	if !c.run.Active() {
		return
	}
	// The outcome lives in the pooled context: a local's address handed
	// to the hooks' interface calls would escape, one allocation a request.
	c.logged = c.outcomeFor(o, o.failure)
	c.logged.Duration = time.Since(start)
	c.run.Log(c, &c.logged)
}

// SetPluginMetrics sets where panics in plugin hooks are counted.
func (p *Proxy) SetPluginMetrics(m *plugin.Metrics) { p.pm = m }

// stdLocal sends a plugin's own answer on the HTTP/2 engine.
func (p *Proxy) stdLocal(w http.ResponseWriter, c *Ctx) int {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	return p.stdAnswer(w, c, c.status, c.localBody)
}

// stdAnswer is fastAnswer for the HTTP/2 engine.
func (p *Proxy) stdAnswer(w http.ResponseWriter, c *Ctx, status int, body []byte) int {
	status = p.stdResponsePhase(w, c, status)
	w.WriteHeader(status)
	if bw, ok := c.run.Body(c, w); ok {
		_, _ = bw.Write(body)
		_ = bw.Close()
		return status
	}
	_, _ = w.Write(body)
	return status
}

// stdResponsePhase runs the response hooks over w's header and returns the
// status to send.
func (p *Proxy) stdResponsePhase(w http.ResponseWriter, c *Ctx, status int) int {
	if !c.run.Active() {
		return status
	}
	c.responseReady(status, w.Header())
	c.run.Response(c)
	return c.status
}

// flushingBody is the body filters in front of an HTTP/2 response: a flush
// pushes what the filters hold, then the frames.
type flushingBody struct {
	bw *plugin.BodyWriter
	w  http.ResponseWriter
}

func (f *flushingBody) Write(p []byte) (int, error) { return f.bw.Write(p) }

func (f *flushingBody) Flush() {
	_ = f.bw.Flush()
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}

// failureOf names a round-trip error for the plugins' log phase.
func failureOf(err error) string {
	if errors.Is(err, errNoEndpoint) {
		return "no-endpoint"
	}
	return failureName(classify(err))
}
