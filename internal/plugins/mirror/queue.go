package mirror

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/upstream"
)

// queue is the bounded queue of copies and the workers sending them. It
// lives in the plugin's state store, so a config change that keeps the
// mirror's config keeps its queue and workers; Close (when the last
// instance using it goes) stops the workers.
type queue struct {
	ch      chan *job
	stop    chan struct{}
	once    sync.Once
	pool    func() *upstream.Pool
	timeout time.Duration
	mark    string
	value   string
	log     *slog.Logger

	sent, failed *plugin.Counter
}

func newQueue(cfg *Config, env *plugin.Env) *queue {
	q := &queue{
		ch:      make(chan *job, cfg.QueueSize),
		stop:    make(chan struct{}),
		pool:    func() *upstream.Pool { return env.Pool(cfg.Service) },
		timeout: cfg.Timeout.D(),
		mark:    cfg.MarkHeader,
		value:   cfg.MarkValue,
		log:     env.Log,
		sent:    env.Counter("sent"),
		failed:  env.Counter("failed"),
	}
	for range cfg.Workers {
		go q.work()
	}
	return q
}

// Close stops the workers. It does not wait for copies in flight: each
// ends within the timeout on its own, and a config change must not wait
// for a slow mirror target.
func (q *queue) Close() error {
	q.once.Do(func() { close(q.stop) })
	return nil
}

func (q *queue) work() {
	for {
		select {
		case <-q.stop:
			return
		case j := <-q.ch:
			q.send(j)
			putJob(j)
		}
	}
}

// send delivers one copy; its response is read and thrown away.
func (q *queue) send(j *job) {
	p := q.pool()
	var ep *upstream.Endpoint
	if p != nil {
		ep = p.Pick(nil, nil)
	}
	if ep == nil {
		q.failed.Inc()
		q.log.Debug("mirror: no endpoint for the copy")
		return
	}
	ep.Begin()
	defer ep.End()
	var err error
	if p.Protocol() == upstream.HTTP1 {
		err = q.sendHTTP1(ep, j)
	} else {
		err = q.sendHTTP2(p, ep, j)
	}
	if err != nil {
		q.failed.Inc()
		q.log.Debug("mirror: copy failed", "endpoint", ep.Address(), "error", err)
		return
	}
	q.sent.Inc()
}

func (q *queue) sendHTTP1(ep *upstream.Endpoint, j *job) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	hc := ep.Client()
	req.Header.SetMethodBytes(j.method)
	req.SetRequestURIBytes(j.uri)
	if hc.IsTLS {
		req.URI().SetScheme("https")
	} else {
		req.URI().SetScheme("http")
	}
	req.UseHostHeader = true
	req.Header.SetHostBytes(j.host)
	j.eachHeader(func(name, value []byte) { req.Header.AddBytesKV(name, value) })
	req.Header.Set(q.mark, q.value)
	req.SetBodyRaw(j.body)
	if err := hc.DoDeadline(req, resp, time.Now().Add(q.timeout)); err != nil {
		return err
	}
	if s := resp.BodyStream(); s != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(s, 64<<20))
	}
	return resp.CloseBodyStream()
}

func (q *queue) sendHTTP2(p *upstream.Pool, ep *upstream.Endpoint, j *job) error {
	scheme := "http://"
	if p.IsTLS() {
		scheme = "https://"
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, string(j.method), scheme+ep.Address()+string(j.uri), bytes.NewReader(j.body))
	if err != nil {
		return err
	}
	req.Host = string(j.host)
	j.eachHeader(func(name, value []byte) { req.Header.Add(string(name), string(value)) })
	req.Header.Set(q.mark, q.value)
	resp, err := p.H2Transport().RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<20))
	return resp.Body.Close()
}
