// Package customerrors is the custom-errors plugin: responses with chosen
// statuses get their body from an error-page service instead, as
// ingress-nginx's custom-http-errors with default-backend does.
package customerrors

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/upstream"
)

func init() {
	plugin.Register("custom-errors", "Replaces error responses with pages from an error service (custom-http-errors)", build)
}

// maxPage bounds an error page held in memory.
const maxPage = 1 << 20

// Pages is one custom-errors instance; read-only after build.
type Pages struct {
	codes    [200]bool // 400-599
	pool     func() *upstream.Pool
	headers  map[string]string
	timeout  time.Duration
	replaced *plugin.Counter
	failed   *plugin.Counter
}

// page is the replacement body found in the response phase.
type page struct {
	body []byte
}

var (
	_ plugin.ResponseHandler = (*Pages)(nil)
	_ plugin.BodyHandler     = (*Pages)(nil)
)

func build(cfg *Config, env *plugin.Env) (*Pages, error) {
	p := &Pages{
		pool: func() *upstream.Pool { return env.Pool(cfg.Service) }, headers: cfg.Headers,
		timeout: cfg.Timeout.D(), replaced: env.Counter("replaced"), failed: env.Counter("failed"),
	}
	if p.timeout == 0 {
		p.timeout = 5 * time.Second
	}
	for _, s := range cfg.Statuses {
		p.codes[s-400] = true
	}
	return p, nil
}

// Response fetches the error page when the status is one of the chosen
// ones, and fixes the headers for the new body. The status is kept.
func (p *Pages) Response(c plugin.Ctx, s *plugin.Slot) {
	st := c.Status()
	if st < 400 || st > 599 || !p.codes[st-400] || string(c.Method()) == http.MethodHead {
		return
	}
	body, ctype, err := p.fetch(c, st)
	if err != nil {
		p.failed.Inc()
		return // the original answer is better than none
	}
	p.replaced.Inc()
	c.DelResponseHeader("Content-Length")
	c.DelResponseHeader("Content-Encoding")
	c.DelResponseHeader("ETag")
	if ctype != "" {
		c.SetResponseHeader("Content-Type", ctype)
	}
	s.P = &page{body: body}
}

// ResponseBody drops the original body and writes the page instead.
func (p *Pages) ResponseBody(_ plugin.Ctx, s *plugin.Slot, w io.Writer) io.WriteCloser {
	pg, ok := s.P.(*page)
	if !ok {
		return nil
	}
	return &replacer{w: w, body: pg.body}
}

type replacer struct {
	w    io.Writer
	body []byte
}

func (r *replacer) Write(b []byte) (int, error) { return len(b), nil }

func (r *replacer) Close() error {
	_, err := r.w.Write(r.body)
	return err
}

// fetch asks the error service for the page of status st.
func (p *Pages) fetch(c plugin.Ctx, st int) ([]byte, string, error) {
	pool := p.pool()
	var ep *upstream.Endpoint
	if pool != nil {
		ep = pool.Pick(nil, nil)
	}
	if ep == nil {
		return nil, "", errNoEndpoint
	}
	ep.Begin()
	defer ep.End()
	uri := string(c.Path())
	if q := c.RawQuery(); len(q) > 0 {
		uri += "?" + string(q)
	}
	accept, _ := c.Header("Accept")
	hdr := map[string]string{
		"X-Code": strconv.Itoa(st), "X-Format": string(accept), "X-Original-URI": uri, "X-Request-ID": string(c.RequestID()),
	}
	for k, v := range p.headers {
		hdr[k] = v
	}
	if pool.Protocol() == upstream.HTTP1 {
		return p.fetchHTTP1(ep, string(c.Host()), uri, hdr)
	}
	return p.fetchHTTP2(pool, ep, string(c.Host()), uri, hdr)
}

func (p *Pages) fetchHTTP1(ep *upstream.Endpoint, host, uri string, hdr map[string]string) ([]byte, string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	hc := ep.Client()
	req.SetRequestURI(uri)
	if hc.IsTLS {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	req.UseHostHeader = true
	req.Header.SetHost(host)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if err := hc.DoDeadline(req, resp, time.Now().Add(p.timeout)); err != nil {
		return nil, "", err
	}
	var body []byte
	if s := resp.BodyStream(); s != nil {
		b, err := io.ReadAll(io.LimitReader(s, maxPage+1))
		_ = resp.CloseBodyStream()
		if err != nil {
			return nil, "", err
		}
		body = b
	} else {
		body = bytes.Clone(resp.Body())
	}
	if len(body) > maxPage {
		return nil, "", errTooLarge
	}
	return body, string(resp.Header.ContentType()), nil
}

func (p *Pages) fetchHTTP2(pool *upstream.Pool, ep *upstream.Endpoint, host, uri string, hdr map[string]string) ([]byte, string, error) {
	scheme := "http://"
	if pool.IsTLS() {
		scheme = "https://"
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+ep.Address()+uri, nil)
	if err != nil {
		return nil, "", err
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := pool.H2Transport().RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPage+1))
	if err != nil {
		return nil, "", err
	}
	if len(body) > maxPage {
		return nil, "", errTooLarge
	}
	return body, resp.Header.Get("Content-Type"), nil
}

type fetchError string

func (e fetchError) Error() string { return "custom-errors: " + string(e) }

const (
	errNoEndpoint = fetchError("no endpoint for the error service")
	errTooLarge   = fetchError("error page larger than 1 MiB")
)
