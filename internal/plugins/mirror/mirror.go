// Package mirror is the mirror plugin: it copies a sample of requests to
// another service, asynchronously through a bounded queue and a pool of
// workers, so a slow or dead mirror target never holds up a client. Copies
// that do not fit in the queue are dropped and counted.
package mirror

import (
	"math"
	"math/rand/v2"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("mirror", "Copies a sample of requests to another service, asynchronously; never delays the client", build)
}

// Mirror is one mirror instance.
type Mirror struct {
	q         *queue
	service   string
	threshold uint64 // of 10000
	maxBody   int
	truncate  bool
	mark      []byte

	dropped, skipped *plugin.Counter
}

var (
	_ plugin.UpstreamHandler = (*Mirror)(nil)
	_ plugin.LogHandler      = (*Mirror)(nil)
	_ plugin.ServiceUser     = (*Mirror)(nil)
)

func build(cfg *Config, env *plugin.Env) (*Mirror, error) {
	m := &Mirror{
		service:   cfg.Service,
		threshold: 10000,
		maxBody:   int(min(cfg.MaxBodySize, math.MaxInt32)),
		truncate:  cfg.OversizedBody == "truncate",
		mark:      []byte(cfg.MarkHeader),
		dropped:   env.Counter("dropped"),
		skipped:   env.Counter("skipped"),
	}
	if cfg.Percent != nil {
		m.threshold = uint64(math.Round(*cfg.Percent * 100))
	}
	m.q = env.State("queue", func() any { return newQueue(cfg, env) }).(*queue)
	return m, nil
}

// Services names the mirror target (plugin.ServiceUser).
func (m *Mirror) Services() []string { return []string{m.service} }

// Upstream copies the request as it is about to go upstream into the queue.
// It never blocks: a full queue drops the copy. A body the engine streams
// (HTTP/2) is copied as it goes upstream, and the copy is queued once the
// exchange is over (Log).
func (m *Mirror) Upstream(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	if m.threshold < 10000 && (m.threshold == 0 || rand.Uint64N(10000) >= m.threshold) {
		return plugin.Continue
	}
	body, ok := c.Body()
	if !ok && c.ContentLength() != 0 {
		if n := c.ContentLength(); n > int64(m.maxBody) && !m.truncate {
			m.skipped.Inc()
			return plugin.Continue
		}
		c.CaptureBody(m.maxBody)
		s.P = m.request(c)
		return plugin.Continue
	}
	if len(body) > m.maxBody {
		if !m.truncate {
			m.skipped.Inc()
			return plugin.Continue
		}
		body = body[:m.maxBody]
	}
	j := m.request(c)
	j.body = append(j.body, body...)
	m.enqueue(j)
	return plugin.Continue
}

// Log queues the copy of a request whose body was streamed, once the body
// has gone upstream whole. A body cut short (the client or the upstream
// gave up) is not mirrored: the target would see a request the client
// never completed.
func (m *Mirror) Log(c plugin.Ctx, s *plugin.Slot, _ *plugin.Outcome) {
	j, ok := s.P.(*job)
	if !ok {
		return
	}
	s.P = nil
	body, complete := c.CapturedBody()
	if len(body) > m.maxBody {
		if !m.truncate {
			m.skipped.Inc()
			putJob(j)
			return
		}
		body, complete = body[:m.maxBody], true
	}
	if !complete {
		m.skipped.Inc()
		putJob(j)
		return
	}
	j.body = append(j.body, body...)
	m.enqueue(j)
}

// request copies the request line and headers into a job.
func (m *Mirror) request(c plugin.Ctx) *job {
	j := getJob()
	j.method = append(j.method, c.Method()...)
	j.host = append(j.host, c.Host()...)
	j.uri = append(j.uri, c.Path()...)
	if q := c.RawQuery(); len(q) > 0 {
		j.uri = append(j.uri, '?')
		j.uri = append(j.uri, q...)
	}
	j.skip = m.mark
	// The headers as they go upstream, the gateway's forwarding headers and
	// request ID included: the copy is the request the upstream gets.
	c.VisitUpstreamHeaders(j.visit)
	return j
}

// enqueue hands a job to the workers, or drops it when the queue is full.
func (m *Mirror) enqueue(j *job) {
	select {
	case m.q.ch <- j:
	default:
		m.dropped.Inc()
		putJob(j)
	}
}
