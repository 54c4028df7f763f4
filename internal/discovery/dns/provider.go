package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/miekg/dns"

	"pylon.io/pylon/internal/discovery"
)

// maxLookups bounds the extra A/AAAA queries one SRV answer may cause (for
// targets the additional section does not cover).
const maxLookups = 64

// Provider asks DNS servers.
type Provider struct {
	c   Config
	log *slog.Logger

	mu   sync.Mutex
	good int // index of the server that answered last; tried first

	ctx    context.Context
	cancel context.CancelFunc
}

var _ discovery.Provider = (*Provider)(nil)

// New returns a provider for c, which Validate accepted.
func New(c Config, log *slog.Logger) (discovery.Provider, error) {
	if err := c.Validate("dns"); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{c: c, log: log.With("component", "discovery/dns"), ctx: ctx, cancel: cancel}, nil
}

// Close ends every watch.
func (p *Provider) Close() error { p.cancel(); return nil }

func check(q discovery.Query) error {
	switch {
	case len(q.Tags) > 0 || q.Namespace != "" || q.Partition != "" || q.Datacenter != "" || q.Group != "" || len(q.Clusters) > 0 || q.App != "" || q.Path != "" || q.Layout != "":
		return errors.New("dns: only name and port, or srv, apply to a dns provider")
	case q.SRV != "" && (q.Name != "" || q.Port != 0):
		return errors.New("dns: set srv, or name and port, not both")
	case q.SRV == "" && q.Name == "":
		return errors.New("dns: name or srv is required")
	case q.SRV == "" && (q.Port < 1 || q.Port > 65535):
		return fmt.Errorf("dns: port must be 1-65535 with name (got %d)", q.Port)
	}
	return nil
}

// Resolve answers q once.
func (p *Provider) Resolve(ctx context.Context, q discovery.Query) (discovery.Set, error) {
	a, err := p.resolve(ctx, q)
	return a.set, err
}

func (p *Provider) resolve(ctx context.Context, q discovery.Query) (answer, error) {
	if err := check(q); err != nil {
		return answer{}, err
	}
	var a answer
	var err error
	if q.SRV != "" {
		a, err = p.resolveSRV(ctx, q.SRV)
	} else {
		a, err = p.resolveName(ctx, q.Name, q.Port)
	}
	if err == nil && a.cut > 0 {
		p.log.Warn("dns: answer cut to the instance bound", "query", q.Name+q.SRV, "kept", len(a.set.Instances), "dropped", a.cut)
	}
	return a, err
}

func (p *Provider) resolveName(ctx context.Context, name string, port int) (answer, error) {
	// One family failing is not the query failing: dnsmasq without an
	// upstream answers REFUSED for the AAAA of a name it holds only an A
	// record for. Both failing is.
	var all answer
	var errs []error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m, err := p.exchange(ctx, name, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a := addresses(m, name, port)
		all.set.Instances = append(all.set.Instances, a.set.Instances...)
		all.cut += a.cut
		if a.ttl > 0 && (all.ttl == 0 || a.ttl < all.ttl) {
			all.ttl = a.ttl
		}
	}
	if len(errs) == 2 {
		return answer{}, errors.Join(errs...)
	}
	if n := len(all.set.Instances) - discovery.MaxInstances; n > 0 {
		all.set.Instances, all.cut = all.set.Instances[:discovery.MaxInstances], all.cut+n
	}
	sortInstances(all.set.Instances)
	return all, nil
}

func (p *Provider) resolveSRV(ctx context.Context, name string) (answer, error) {
	m, err := p.exchange(ctx, name, dns.TypeSRV)
	if err != nil {
		return answer{}, err
	}
	recs := srvRecords(m, name)
	var ttl time.Duration
	for _, r := range recs {
		ttl = minTTL(ttl, r.Hdr.Ttl)
	}
	lookups := 0
	var lookupErr error
	a := srvSet(recs, ttl, func(target string) []net.IP {
		if ips := glue(m, target); len(ips) > 0 {
			return ips
		}
		if lookups >= maxLookups {
			return nil
		}
		lookups++
		t, err := p.resolveName(ctx, target, 1)
		if err != nil {
			lookupErr = err
			return nil
		}
		var ips []net.IP
		for _, in := range t.set.Instances {
			host, _, _ := net.SplitHostPort(in.Address)
			ips = append(ips, net.ParseIP(host))
		}
		return ips
	})
	if len(a.set.Instances) == 0 && lookupErr != nil {
		return answer{}, lookupErr
	}
	return a, nil
}

// exchange asks the servers in turn, starting with the one that answered
// last, and retries over TCP when a UDP answer is truncated. NXDOMAIN and
// an empty answer are answers; a server failure or a refusal moves on to
// the next server.
func (p *Provider) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(4096, false)
	p.mu.Lock()
	first := p.good
	p.mu.Unlock()
	var errs []error
	n := len(p.c.Servers)
	for i := range n {
		idx := (first + i) % n
		srv := p.c.Servers[idx]
		m, err := p.ask(ctx, q, srv)
		if err == nil {
			p.mu.Lock()
			p.good = idx
			p.mu.Unlock()
			return m, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", srv, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dns: %s %s: %w", dns.TypeToString[qtype], name, errors.Join(errs...))
}

func (p *Provider) ask(ctx context.Context, q *dns.Msg, srv string) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: p.c.timeout(), UDPSize: 4096}
	m, _, err := c.ExchangeContext(ctx, q, srv)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, srv)
	}
	if err != nil {
		return nil, err
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
		return m, nil
	}
	return nil, fmt.Errorf("answered %s", dns.RcodeToString[m.Rcode])
}

// Watch re-asks q when its TTL (clamped to minTTL-maxTTL) runs out and
// sends every answer: the Manager drops unchanged ones, and a steady
// stream tells it the watch is alive. While no server answers it retries
// at the TTL floor doubling up to the ceiling, sending nothing, so the
// pool keeps its endpoints.
func (p *Provider) Watch(ctx context.Context, q discovery.Query, update func(discovery.Set)) error {
	if err := check(q); err != nil {
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-p.ctx.Done():
			stop()
		case <-ctx.Done():
		}
	}()
	var last *discovery.Set
	retry := p.c.minTTL()
	for {
		a, err := p.resolve(ctx, q)
		wait := p.c.clamp(a.ttl)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.log.Warn("dns: no answer", "query", q.Name+q.SRV, "error", err.Error())
			wait = retry
			retry = min(retry*2, p.c.maxTTL())
		} else {
			retry = p.c.minTTL()
			if last == nil || !reflect.DeepEqual(last.Instances, a.set.Instances) {
				p.log.Debug("dns: endpoints", "query", q.Name+q.SRV, "count", len(a.set.Instances))
			}
			last = &a.set
			update(a.set)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Check reports whether q can be asked of a dns provider, so a service
// asking what DNS cannot answer is rejected with the config, not later.
func Check(q discovery.Query) error { return check(q) }
