package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// wsDialTimeout bounds connecting to the upstream and reading its handshake answer.
const wsDialTimeout = 10 * time.Second

// serveWebSocket forwards an HTTP/1.1 upgrade to one endpoint and, when the
// upstream switches protocols, splices the two connections together. The
// spliced connection belongs to neither engine afterwards, so no config
// change can close it: only the client or the upstream can.
func (p *Proxy) serveWebSocket(fc *fasthttp.RequestCtx, c *Ctx, route *Route, b *Backend, o *outcome) {
	e := b.Pool.Pick(c, nil)
	if e == nil {
		o.status = p.fastError(fc, fasthttp.StatusServiceUnavailable, "no healthy upstream")
		return
	}
	o.endpoint = e
	ctx, cancel := context.WithTimeout(context.Background(), wsDialTimeout)
	defer cancel()
	up, err := e.Dial(ctx)
	if err != nil {
		e.ReportFailure()
		b.Errors.Error(classify(err))
		o.status = p.fastError(fc, fasthttp.StatusBadGateway, "upstream connect error")
		return
	}
	h := &fc.Request.Header
	setForwarded(c, h) // Connection and Upgrade stay: they are the handshake
	if c.run.Active() {
		// The request line and Host as the plugins left them (rewrite).
		h.SetRequestURI(c.forwardURI())
		if c.upHost != "" {
			h.SetHost(c.upHost)
		}
	}
	_ = up.SetDeadline(time.Now().Add(wsDialTimeout))
	if _, err := up.Write(h.Header()); err != nil {
		up.Close()
		e.ReportFailure()
		o.status = p.fastError(fc, fasthttp.StatusBadGateway, "upstream write error")
		return
	}
	br := bufio.NewReader(up)
	var rh fasthttp.ResponseHeader
	rh.DisableNormalizing()
	if err := rh.Read(br); err != nil {
		up.Close()
		e.ReportFailure()
		o.status = p.fastError(fc, fasthttp.StatusBadGateway, "upstream handshake error")
		return
	}
	e.ReportSuccess()
	o.upStatus = rh.StatusCode()
	o.status = o.upStatus
	if o.upStatus != fasthttp.StatusSwitchingProtocols {
		// A refused upgrade is an ordinary response: pass it on.
		rh.CopyTo(&fc.Response.Header)
		fc.Response.Header.ResetConnectionClose()
		if err := fc.Response.ReadBody(br, 16<<20); err != nil {
			o.status = p.fastError(fc, fasthttp.StatusBadGateway, "upstream read error")
		}
		up.Close()
		return
	}
	_ = up.SetDeadline(time.Time{})
	head := append([]byte(nil), rh.Header()...)
	fc.HijackSetNoResponse(true)
	fc.Hijack(func(client net.Conn) {
		if _, err := client.Write(head); err != nil {
			up.Close()
			return
		}
		splice(client, up, br)
	})
}

// splice copies both ways until either side ends, then closes both: the
// engine's hijacked connection cannot half-close, and an idle peer would
// otherwise hold the other side (and two goroutines) open forever.
// WebSocket has its own closing handshake, carried through as data.
func splice(client, up net.Conn, br *bufio.Reader) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			client.Close()
			up.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(client, br)
		closeBoth()
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(up, client)
		closeBoth()
	}()
	wg.Wait()
}
