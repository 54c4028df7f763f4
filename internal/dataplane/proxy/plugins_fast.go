package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/plugin"
)

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
