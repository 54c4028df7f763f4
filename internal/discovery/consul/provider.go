package consul

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"pylon.io/pylon/internal/discovery"
)

// errClosed is what a Watch returns when Close ends it.
var errClosed = errors.New("consul: provider closed")

// Blocking queries follow Consul's rules for clients: never ask again
// sooner than minGap after the last query began (an index that does not
// move, or moves on every write, must not make a watch spin), and back off
// on errors from firstBackoff doubling to maxBackoff, with jitter so that
// the watches of one agent do not come back in step.
var (
	minGap       = 100 * time.Millisecond
	firstBackoff = 250 * time.Millisecond
	maxBackoff   = 30 * time.Second
)

type provider struct {
	cfg    Config
	log    *slog.Logger
	agents *agents
	ctx    context.Context
	cancel context.CancelFunc
}

var _ discovery.Provider = (*provider)(nil)

// New returns a provider for c, which must have passed Validate. It does
// not reach an agent: watches connect, and reconnect, by themselves.
func New(c Config, log *slog.Logger) (discovery.Provider, error) {
	if err := c.Validate("consul"); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	c = c.withDefaults()
	a, err := newAgents(c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &provider{cfg: c, log: log, agents: a, ctx: ctx, cancel: cancel}, nil
}

// Check reports whether q is a query this provider can answer, before
// any provider is opened (a service's discovery block is checked so).
func Check(q discovery.Query) error {
	if q.Name == "" {
		return errors.New("consul: query: name is required")
	}
	if q.SRV != "" || q.Group != "" || len(q.Clusters) > 0 || q.App != "" || q.Path != "" || q.Layout != "" {
		return fmt.Errorf("consul: query %q: only name, tags, namespace, partition, datacenter and port apply", q.Name)
	}
	var errs []error
	if notText(q.Name) || strings.Contains(q.Name, "/") {
		errs = append(errs, fmt.Errorf("consul: query %q: name must not contain '/', spaces or control characters", q.Name))
	}
	for i, t := range q.Tags {
		if t == "" || notText(t) {
			errs = append(errs, fmt.Errorf("consul: query %q: tags[%d]: %q must be non-empty, without spaces or control characters", q.Name, i, t))
		}
	}
	for _, f := range []struct{ name, v string }{{"namespace", q.Namespace}, {"partition", q.Partition}, {"datacenter", q.Datacenter}} {
		if notText(f.v) {
			errs = append(errs, fmt.Errorf("consul: query %q: %s %q must not contain spaces or control characters", q.Name, f.name, f.v))
		}
	}
	if q.Port < 0 || q.Port > 65535 {
		errs = append(errs, fmt.Errorf("consul: query %q: port must be 0-65535 (got %d)", q.Name, q.Port))
	}
	return errors.Join(errs...)
}

func notText(s string) bool {
	return !discovery.IsText(s) || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// params is the health query for q: the query's datacenter, namespace
// and partition over the provider's, its tags, passing=1 unless the
// provider wants every instance, and, for a blocking query, index and wait.
func (p *provider) params(q discovery.Query, index uint64) url.Values {
	v := url.Values{}
	set := func(k, qv, cv string) {
		if s := cmp.Or(qv, cv); s != "" {
			v.Set(k, s)
		}
	}
	set("dc", q.Datacenter, p.cfg.Datacenter)
	set("ns", q.Namespace, p.cfg.Namespace)
	set("partition", q.Partition, p.cfg.Partition)
	for _, t := range q.Tags {
		v.Add("tag", t)
	}
	if *p.cfg.PassingOnly {
		v.Set("passing", "1")
	}
	if index > 0 {
		v.Set("index", strconv.FormatUint(index, 10))
		v.Set("wait", strconv.FormatInt(p.cfg.WaitTime.D().Milliseconds(), 10)+"ms")
	}
	return v
}

// query asks server once; index 0 is a non-blocking read. The error names
// the server and the service.
func (p *provider) query(ctx context.Context, server string, q discovery.Query, index uint64) (decoded, uint64, error) {
	// Consul adds up to wait/16 of jitter to a blocking query's wait.
	limit := p.cfg.Timeout.D()
	if index > 0 {
		limit += p.cfg.WaitTime.D() + p.cfg.WaitTime.D()/16
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	fail := func(err error) error {
		where := ""
		if dc := cmp.Or(q.Datacenter, p.cfg.Datacenter); dc != "" {
			where = fmt.Sprintf(" in datacenter %q", dc)
		}
		return fmt.Errorf("consul: %s: service %q%s: %w", server, q.Name, where, err)
	}
	a, err := p.agents.get(ctx, server, "/v1/health/service/"+url.PathEscape(q.Name), p.params(q, index))
	if err != nil {
		return decoded{}, 0, fail(err)
	}
	if a.filtered {
		return decoded{}, 0, fail(errors.New("the ACL token may not read all of the service's instances (Consul filtered the answer): it needs service:read on the service and node:read on its nodes"))
	}
	d, err := decodeEntries(a.body, mapping{zoneKey: p.cfg.ZoneKey, port: q.Port})
	if err != nil {
		return decoded{}, 0, fail(err)
	}
	p.agents.answered(server)
	return d, a.index, nil
}

// nextIndex applies Consul's rules to the index of an answer: an index
// that went backwards (a restored snapshot, an agent of another cluster)
// starts over with a fresh read, and an index is never 0 after a read, so
// a query always blocks.
func nextIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		return 0
	case got < 1:
		return 1
	default:
		return got
	}
}

// Watch sends q's set at once and after each change, from blocking queries
// on the health API. On an error it backs off, moves to the next server and
// starts over with a fresh read.
func (p *provider) Watch(ctx context.Context, q discovery.Query, update func(discovery.Set)) error {
	if err := Check(q); err != nil {
		return err
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	ended := func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errClosed
	}

	var last *discovery.Set
	var index uint64
	server := p.agents.current()
	backoff := firstBackoff
	for {
		began := time.Now()
		d, got, err := p.query(qctx, server, q, index)
		if qctx.Err() != nil {
			return ended()
		}
		wait := minGap - time.Since(began)
		if err != nil {
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, maxBackoff)
			next := p.agents.failover(server)
			p.log.Warn("consul: watch failed; retrying", "service", q.Name, "server", server, "next", next, "retry", wait.Round(time.Millisecond).String(), "error", err.Error())
			server, index = next, 0
		} else {
			backoff = firstBackoff
			index = nextIndex(index, got)
			if last == nil || !reflect.DeepEqual(*last, d.set) {
				p.logDecoded(q, d)
				last = &d.set
				update(d.set)
			}
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-qctx.Done():
				t.Stop()
				return ended()
			case <-t.C:
			}
		}
	}
}

func (p *provider) logDecoded(q discovery.Query, d decoded) {
	if d.dropped > 0 {
		p.log.Warn("consul: dropped tags and metadata that are not valid UTF-8", "service", q.Name, "entries", d.dropped)
	}
	if d.skipped > 0 {
		p.log.Warn("consul: instances without a usable address or port left out", "service", q.Name, "instances", d.skipped)
	}
}

// Resolve asks once, without blocking, trying each server in turn from
// the last one that answered; the error names every server's failure.
func (p *provider) Resolve(ctx context.Context, q discovery.Query) (discovery.Set, error) {
	if err := Check(q); err != nil {
		return discovery.Set{}, err
	}
	var errs []error
	for _, server := range p.agents.inTurn() {
		d, _, err := p.query(ctx, server, q, 0)
		if err == nil {
			return d.set, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return discovery.Set{}, errors.Join(errs...)
}

// Close ends every watch and drops idle connections.
func (p *provider) Close() error {
	p.cancel()
	p.agents.close()
	return nil
}
