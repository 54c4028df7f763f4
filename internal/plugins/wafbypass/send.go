package wafbypass

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/upstream"
)

// maxVerdictBody bounds the WAF's answer kept for the client: a block
// page, not a download.
const maxVerdictBody = 64 << 10

// run asks the WAF on ep and signals done; it owns one hold on k. The
// exchange is bounded by the timeout on its own, so a WAF that never
// answers costs a goroutine for at most that long.
func (k *check) run(p *upstream.Pool, ep *upstream.Endpoint, timeout time.Duration) {
	defer k.release()
	ep.Begin()
	defer ep.End()
	if p.Protocol() == upstream.HTTP1 {
		k.err = k.sendHTTP1(ep, timeout)
	} else {
		k.err = k.sendHTTP2(p, ep, timeout)
	}
	k.done <- struct{}{}
}

func (k *check) sendHTTP1(ep *upstream.Endpoint, timeout time.Duration) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	hc := ep.Client()
	req.Header.SetMethodBytes(k.method)
	req.SetRequestURIBytes(k.uri)
	if hc.IsTLS {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	req.UseHostHeader = true
	req.Header.SetHostBytes(k.host)
	k.eachHeader(func(name, value []byte) { req.Header.AddBytesKV(name, value) })
	req.SetBodyRaw(k.body)
	if err := hc.DoDeadline(req, resp, time.Now().Add(timeout)); err != nil {
		return err
	}
	k.status = resp.StatusCode()
	k.ctype = append(k.ctype, resp.Header.ContentType()...)
	k.location = append(k.location, resp.Header.Peek("Location")...)
	if s := resp.BodyStream(); s != nil {
		var err error
		k.respBody, err = readAtMost(k.respBody, s, maxVerdictBody)
		if cerr := resp.CloseBodyStream(); err == nil {
			err = cerr
		}
		return err
	}
	b := resp.Body()
	k.respBody = append(k.respBody, b[:min(len(b), maxVerdictBody)]...)
	return nil
}

func (k *check) sendHTTP2(p *upstream.Pool, ep *upstream.Endpoint, timeout time.Duration) error {
	scheme := "http://"
	if p.IsTLS() {
		scheme = "https://"
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, string(k.method), scheme+ep.Address()+string(k.uri), bytes.NewReader(k.body))
	if err != nil {
		return err
	}
	req.Host = string(k.host)
	k.eachHeader(func(name, value []byte) { req.Header.Add(string(name), string(value)) })
	resp, err := p.H2Transport().RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	k.status = resp.StatusCode
	k.ctype = append(k.ctype, resp.Header.Get("Content-Type")...)
	k.location = append(k.location, resp.Header.Get("Location")...)
	k.respBody, err = readAtMost(k.respBody, resp.Body, maxVerdictBody)
	return err
}

// readAtMost appends up to max bytes of r to dst, growing dst only when
// its pooled capacity is not enough; the rest of r is left unread.
func readAtMost(dst []byte, r io.Reader, max int) ([]byte, error) {
	for len(dst) < max {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), max)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}
