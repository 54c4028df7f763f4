package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// roundTripStd sends one request over the pool's HTTP/2 (or h2c) transport,
// retrying connect errors on another endpoint while the body is unread.
func (p *Proxy) roundTripStd(ctx context.Context, c *Ctx, route *Route, b *Backend, o *outcome,
	method, host, requestURI string, header http.Header, body io.ReadCloser, contentLength int64) (*http.Response, error) {
	tr := b.Pool.H2Transport()
	scheme := "https"
	if b.Pool.Protocol() == upstream.H2C {
		scheme = "http"
	}
	var prev *upstream.Endpoint
	for try := 1; ; try++ {
		e := b.Pool.Pick(c, prev)
		if e == nil {
			return nil, errNoEndpoint
		}
		o.endpoint = e
		u, err := url.ParseRequestURI(requestURI)
		if err != nil {
			return nil, err
		}
		u.Scheme, u.Host = scheme, e.Address()
		out := &http.Request{
			Method: method, URL: u, Host: host, Header: header,
			Body: body, ContentLength: contentLength,
			Proto: "HTTP/2.0", ProtoMajor: 2, ProtoMinor: 0,
		}
		if body == nil || contentLength == 0 {
			out.Body = http.NoBody
		}
		// The per-try timeout bounds the wait for the response headers; a
		// stream that then runs longer (gRPC, events) is not cut.
		tctx, cancelTry := context.WithCancel(ctx)
		var timer *time.Timer
		if pt := route.Retry.PerTryTimeout; pt > 0 {
			timer = time.AfterFunc(pt, cancelTry)
		}
		out = out.WithContext(tctx)
		e.Begin()
		resp, err := tr.RoundTrip(out)
		perTryExpired := timer != nil && !timer.Stop()
		if err == nil && !perTryExpired {
			// In flight until the body is done, not just the headers: a gRPC
			// stream counts for least-request as long as it lasts.
			resp.Body = &endOnClose{ReadCloser: resp.Body, e: e, cancel: cancelTry}
		} else {
			if err == nil {
				resp.Body.Close()
			}
			if perTryExpired {
				err = fmt.Errorf("per-try timeout %v: %w", route.Retry.PerTryTimeout, context.DeadlineExceeded)
			}
			cancelTry()
			e.End()
		}
		// A request without a body can be sent again; a streamed one only
		// if the connection never opened.
		unread := body == nil || contentLength == 0
		last := try >= route.Retry.Attempts || ctx.Err() != nil
		if err == nil {
			if resp.StatusCode >= 502 && resp.StatusCode <= 504 {
				e.ReportFailure()
			} else {
				e.ReportSuccess()
			}
			if last || !unread || !route.Retry.RetryOnStatus(resp.StatusCode) || !(route.Retry.NonIdempotent || idempotentMethod(c.method)) {
				return resp, nil
			}
			resp.Body.Close()
		} else {
			e.ReportFailure()
			kind := classify(err)
			b.Errors.Error(kind)
			idem := route.Retry.NonIdempotent || idempotentMethod(c.method)
			again := kind == telemetry.UpstreamConnect ||
				(unread && idem && (kind == telemetry.UpstreamReset || (perTryExpired && ctx.Err() == nil)))
			if last || !again {
				return nil, err
			}
		}
		prev = e
	}
}

var errNoEndpoint = errors.New("no healthy upstream")

// statusForErr maps a round-trip error to the answer the client gets.
func statusForErr(err error) (int, string) {
	if errors.Is(err, errNoEndpoint) {
		return http.StatusServiceUnavailable, "no healthy upstream"
	}
	k := classify(err)
	return errorStatus(k), errorText(k)
}

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyFlush streams src to w, flushing after every read so streaming
// responses (gRPC, server-sent events) are not held back.
func copyFlush(w io.Writer, src io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	fl, _ := w.(http.Flusher)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			wk, werr := w.Write(buf[:k])
			n += int64(wk)
			if werr != nil {
				return n, werr
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// clientIPFromRemote extracts the IP of a net/http RemoteAddr.
func clientIPFromRemote(dst []byte, remote string) []byte {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return append(dst, h...)
	}
	return append(dst, remote...)
}

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
