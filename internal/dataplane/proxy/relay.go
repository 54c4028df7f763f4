package proxy

import (
	"io"
	"net/http"

	"github.com/valyala/fasthttp"
)

// relay sends the upstream's answer that s holds to the client, through
// the response phase and the body filters. Each engine's client side reads
// either upstream engine's answer; an HTTP/1.1 answer to an HTTP/1.1 client
// without body filters is already in place.
func (p *Proxy) relay(c *Ctx, o *outcome, s sender) {
	switch s := s.(type) {
	case *fastSender:
		s.dropKeptOnly()
		if c.fast != nil {
			o.status = p.fastFromFast(c, s)
		} else {
			o.status = p.stdFromFast(c, s.resp)
			s.release()
		}
	case *h2Sender:
		s.dropKept()
		if c.fast != nil {
			o.status = p.fastFromH2(c, s.resp, s.cancel)
			s.reset() // the engine closes the body when it has sent it
		} else {
			o.status = p.stdFromH2(c, s.resp)
			s.release()
		}
	}
}

// dropKeptOnly frees a kept answer that a later one replaced.
func (s *fastSender) dropKeptOnly() {
	if s.kept != nil && s.kept != s.resp {
		s.drop(s.kept)
	}
	s.kept = nil
}

// fastFromFast answers an HTTP/1.1 client from an HTTP/1.1 upstream.
func (p *Proxy) fastFromFast(c *Ctx, s *fastSender) int {
	fc, up := c.fast, s.resp
	stripResponseHops(&up.Header)
	if up == &fc.Response {
		// Read in place: only the response phase is left.
		status := p.responsePhase(c, up.StatusCode())
		fc.Response.SetStatusCode(status)
		s.reset()
		return status
	}
	fc.Response.Reset()
	up.Header.CopyTo(&fc.Response.Header)
	status := p.responsePhase(c, up.StatusCode())
	fc.Response.SetStatusCode(status)
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
		s.release()
		return status
	}
	resp := up
	p.fastFilterStream(fc, c, up.BodyStream(), up.Header.ContentLength(), func() {
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseResponse(resp)
	})
	s.resp = nil
	s.release()
	return status
}

// stripResponseHops drops the hop-by-hop headers of an upstream's answer;
// its wish to close its connection is not the client's.
//
// One pass over the header finds which of them the answer holds, and only
// those are deleted: most answers hold none, and each delete copies,
// normalizes and looks up the name anew.
func stripResponseHops(h *fasthttp.ResponseHeader) {
	h.ResetConnectionClose()
	var seen headerSet
	for k := range h.All() {
		seen |= stripBit(k)
	}
	for i := 2; i < len(hopHeaders); i++ { // Connection and Proxy-Connection are the engine's
		if seen.has(hopBit(i)) {
			h.Del(hopHeaders[i])
		}
	}
}

// fastFromH2 answers an HTTP/1.1 client from an HTTP/2 upstream; the body
// streams after the handler returns, and cancel ends the request then.
func (p *Proxy) fastFromH2(c *Ctx, resp *http.Response, cancel func()) int {
	fc := c.fast
	fc.Response.Reset()
	for k, vv := range resp.Header {
		if isHopHeader(k) {
			continue
		}
		for _, v := range vv {
			fc.Response.Header.Add(k, v)
		}
	}
	status := p.responsePhase(c, resp.StatusCode)
	fc.SetStatusCode(status)
	if c.run.HasBody() {
		p.fastFilterStream(fc, c, resp.Body, int(resp.ContentLength), func() { _ = resp.Body.Close(); cancel() })
		return status
	}
	fc.Response.SetBodyStream(cancelOnClose{resp.Body, cancel}, int(resp.ContentLength))
	return status
}

// stdFromH2 answers an HTTP/2 client from an HTTP/2 upstream, trailers
// included, streaming the body.
func (p *Proxy) stdFromH2(c *Ctx, resp *http.Response) int {
	w := c.stdCl.w
	h := w.Header()
	for k, vv := range resp.Header {
		if isHopHeader(k) {
			continue
		}
		h[k] = vv
	}
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	status := p.responsePhase(c, resp.StatusCode)
	w.WriteHeader(status)
	if err := p.stdBody(c, resp.Body, nil); err != nil && c.clientGone() {
		// The client cancelled mid-stream (a gRPC cancellation): its
		// outcome, logged as such, never the upstream's.
		return statusClientClosed
	}
	for k, vv := range resp.Trailer {
		for _, v := range vv {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
	return status
}

// stdFromFast answers an HTTP/2 client from an HTTP/1.1 upstream.
func (p *Proxy) stdFromFast(c *Ctx, up *fasthttp.Response) int {
	w := c.stdCl.w
	hdr := w.Header()
	for k, v := range up.Header.All() {
		ks := string(k)
		if isHopHeader(ks) || ks == "Content-Length" {
			continue
		}
		hdr.Add(ks, string(v))
	}
	status := p.responsePhase(c, up.StatusCode())
	w.WriteHeader(status)
	var err error
	if up.IsBodyStream() {
		// A streamed upstream body (events, long downloads) is passed on
		// read by read with a flush each time, not gathered first.
		err = p.stdBody(c, up.BodyStream(), nil)
	} else {
		err = p.stdBody(c, nil, up.Body())
	}
	if err != nil && c.clientGone() {
		return statusClientClosed
	}
	return status
}

// stdBody writes a response body to an HTTP/2 client, from src or body,
// through the body filters, and returns the error that cut it short.
func (p *Proxy) stdBody(c *Ctx, src io.Reader, body []byte) error {
	w := c.stdCl.w
	var out io.Writer = w
	bw, filtered := c.run.Body(c, w)
	if filtered {
		out = &flushingBody{bw: bw, w: w}
	}
	var err error
	if src != nil {
		_, err = copyFlush(out, src)
	} else {
		_, err = out.Write(body)
	}
	if filtered {
		_ = bw.Close()
	}
	return err
}

// maxFilteredInPlace is the longest upstream body filtered in one piece.
const maxFilteredInPlace = 256 << 10

func isHopHeader(k string) bool {
	for _, h := range hopHeaders {
		if len(k) == len(h) && (k == h || http.CanonicalHeaderKey(k) == h) {
			return true
		}
	}
	return false
}
