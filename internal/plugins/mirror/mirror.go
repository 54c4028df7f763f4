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
// It never blocks: a full queue drops the copy.
func (m *Mirror) Upstream(c plugin.Ctx, _ *plugin.Slot) plugin.Action {
	if m.threshold < 10000 && (m.threshold == 0 || rand.Uint64N(10000) >= m.threshold) {
		return plugin.Continue
	}
	body, ok := c.Body()
	if !ok && c.ContentLength() != 0 {
		// A streamed body goes upstream as it arrives; there is nothing
		// buffered to copy.
		m.skipped.Inc()
		return plugin.Continue
	}
	if len(body) > m.maxBody {
		if !m.truncate {
			m.skipped.Inc()
			return plugin.Continue
		}
		body = body[:m.maxBody]
	}
	j := getJob()
	j.method = append(j.method, c.Method()...)
	j.host = append(j.host, c.Host()...)
	j.uri = append(j.uri, c.Path()...)
	if q := c.RawQuery(); len(q) > 0 {
		j.uri = append(j.uri, '?')
		j.uri = append(j.uri, q...)
	}
	j.skip = m.mark
	c.VisitHeaders(j.visit)
	j.body = append(j.body, body...)
	select {
	case m.q.ch <- j:
	default:
		m.dropped.Inc()
		putJob(j)
	}
	return plugin.Continue
}
