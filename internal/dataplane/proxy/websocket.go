package proxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// wsDialTimeout bounds connecting to the upstream and reading its handshake answer.
const wsDialTimeout = 10 * time.Second

// serveUpgrade forwards a WebSocket, prepared like any request, to one
// endpoint as an HTTP/1.1 upgrade (over TLS when the pool uses TLS) and,
// when the upstream switches protocols, joins the two sides. The client
// may have asked over HTTP/1.1 (Upgrade) or over HTTP/2 (extended CONNECT,
// RFC 8441). The joined connection belongs to neither engine's config
// generation afterwards, so no config change can close it.
func (p *Proxy) serveUpgrade(c *Ctx, o *outcome) {
	b := c.backend
	ctx, cancel := context.WithTimeout(context.Background(), wsDialTimeout)
	defer cancel()
	// A connect error is retried on another endpoint, as for any request:
	// nothing was sent. Once an upstream saw the handshake it is not sent
	// again.
	var e, prev *upstream.Endpoint
	var up net.Conn
	for try := 1; ; try++ {
		if e = b.Pool.Pick(c, prev); e == nil {
			o.failure = "no-endpoint"
			o.status = p.refuse(c, 503, "no healthy upstream")
			return
		}
		o.endpoint = e
		var err error
		if up, err = e.Dial(ctx); err == nil {
			break
		}
		e.ReportFailure()
		kind := classify(err)
		b.Errors.Error(kind)
		o.failure = failureName(kind)
		o.addTry(e, 0, o.failure)
		if kind != telemetry.UpstreamConnect || try >= c.route.Retry.Attempts || ctx.Err() != nil || !b.Pool.Budget().Retry() {
			o.status = p.refuse(c, 502, "upstream connect error")
			return
		}
		b.Pool.Budget().RetryDone()
		prev = e
	}
	o.failure = ""
	var err error
	_ = up.SetDeadline(time.Now().Add(wsDialTimeout))
	key := ""
	if c.fast != nil {
		h := &c.fast.Request.Header
		// The request line and Host as the plugins left them (rewrite).
		h.SetRequestURI(c.forwardURI())
		if c.upHost != "" {
			h.SetHost(c.upHost)
		}
		_, err = up.Write(h.Header())
	} else {
		key, err = writeH2Handshake(up, c)
	}
	if err != nil {
		up.Close()
		e.ReportFailure()
		o.failure = "reset"
		o.addTry(e, 0, o.failure)
		o.status = p.refuse(c, 502, "upstream write error")
		return
	}
	br := bufio.NewReader(up)
	var rh fasthttp.ResponseHeader
	rh.DisableNormalizing()
	if err := rh.Read(br); err != nil {
		up.Close()
		e.ReportFailure()
		o.failure = "reset"
		o.addTry(e, 0, o.failure)
		o.status = p.refuse(c, 502, "upstream handshake error")
		return
	}
	e.ReportSuccess()
	o.upStatus = rh.StatusCode()
	o.status = o.upStatus
	o.addTry(e, o.upStatus, "")
	if o.upStatus != fasthttp.StatusSwitchingProtocols {
		// A refused upgrade is an ordinary response: pass it on.
		var resp fasthttp.Response
		rh.CopyTo(&resp.Header)
		if err := resp.ReadBody(br, 16<<20); err != nil {
			up.Close()
			o.status = p.refuse(c, 502, "upstream read error")
			return
		}
		up.Close()
		stripResponseHops(&resp.Header)
		if c.fast != nil {
			resp.CopyTo(&c.fast.Response)
			o.status = p.responsePhase(c, o.upStatus)
			c.fast.Response.SetStatusCode(o.status)
			return
		}
		o.status = p.stdFromFast(c, &resp)
		return
	}
	_ = up.SetDeadline(time.Time{})
	if c.fast != nil {
		head := append([]byte(nil), rh.Header()...)
		fc := c.fast
		fc.HijackSetNoResponse(true)
		fc.Hijack(func(client net.Conn) {
			if _, err := client.Write(head); err != nil {
				up.Close()
				return
			}
			splice(client, up, br)
		})
		return
	}
	if want := wsAccept(key); string(rh.Peek("Sec-WebSocket-Accept")) != want {
		up.Close()
		o.status = p.refuse(c, 502, "upstream handshake error")
		return
	}
	p.spliceH2(c, &rh, up, br)
	o.status = 200
}

// writeH2Handshake writes an HTTP/2 client's extended CONNECT to the
// upstream as an HTTP/1.1 upgrade: RFC 8441 has no key, so one is made
// here, and the upstream's accept is checked against it.
func writeH2Handshake(up net.Conn, c *Ctx) (string, error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.SetRequestURI(c.forwardURI())
	host := string(c.host)
	if c.upHost != "" {
		host = c.upHost
	}
	req.Header.SetHost(host)
	for k, vv := range c.std.Header {
		if k == ":protocol" || framingHeader(k) {
			continue
		}
		for _, v := range vv {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Key", key)
	if req.Header.Peek("Sec-WebSocket-Version") == nil {
		req.Header.Set("Sec-WebSocket-Version", "13")
	}
	_, err := up.Write(req.Header.Header())
	return key, err
}

// wsAccept is the Sec-WebSocket-Accept for key (RFC 6455 section 4.2.2).
func wsAccept(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// spliceH2 answers an extended CONNECT with 200 and joins the HTTP/2
// stream with the upstream connection until either ends.
func (p *Proxy) spliceH2(c *Ctx, rh *fasthttp.ResponseHeader, up net.Conn, br *bufio.Reader) {
	w, r := c.stdCl.w, c.std
	// The upstream's answer, less what belongs to the HTTP/1.1 handshake:
	// an agreed subprotocol or extension (permessage-deflate) must reach
	// the client, or the frames that follow make no sense to it.
	for k, v := range rh.All() {
		switch ks := http.CanonicalHeaderKey(string(k)); ks {
		case "Connection", "Upgrade", "Sec-Websocket-Accept", "Content-Length", "Transfer-Encoding", "Keep-Alive":
		default:
			w.Header().Add(ks, string(v))
		}
	}
	w.WriteHeader(http.StatusOK)
	w.Flush()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, r.Body)
		// The client ended its side: the upstream reads end of file, and
		// the WebSocket closing handshake, carried as data, has happened.
		if cw, ok := up.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			up.Close()
		}
	}()
	_, _ = copyFlush(w, br)
	up.Close()
	_ = r.Body.Close()
	<-done
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
