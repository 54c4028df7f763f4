// Package eureka finds service endpoints in a Eureka registry through its
// REST API: a full fetch of /apps, then /apps/delta at each poll, with
// Eureka's reconcile rule (a delta whose apps__hashcode disagrees with the
// local registry's is dropped for a full fetch).
package eureka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/ir"
)

// Config is one Eureka provider.
type Config struct {
	Servers      []string    `json:"servers" yaml:"servers"`                               // service URLs, e.g. http://eureka:8761/eureka
	Secure       bool        `json:"secure" yaml:"secure"`                                 // use each instance's securePort
	TagsKey      string      `json:"tagsKey" yaml:"tagsKey"`                               // metadata key of comma-separated tags; default "tags"
	PollInterval ir.Duration `json:"pollInterval,omitempty" yaml:"pollInterval,omitempty"` // default 30s, as Eureka clients
	Timeout      ir.Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`           // one request; default 5s
}

// Validate checks c; errors name field (e.g. "discovery[1].eureka").
func (c Config) Validate(field string) error {
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, fmt.Errorf("%s.servers: at least one server is required", field))
	}
	for i, s := range c.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s.servers[%d]: %q is not an http(s) URL", field, i, s))
		}
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("%s.pollInterval: must not be negative", field))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must not be negative", field))
	}
	return errors.Join(errs...)
}

const maxBody = 32 << 20

// errClosed is what a Watch returns when Close ends it.
var errClosed = errors.New("eureka: provider closed")

type provider struct {
	cfg    Config
	log    *slog.Logger
	http   *discovery.Fetcher
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	reg     map[string]Instance // nil until the first full fetch
	changed chan struct{}       // closed when reg changes
}

var _ discovery.Provider = (*provider)(nil)

// New returns a provider for c and starts its registry fetches.
func New(c Config, log *slog.Logger) (discovery.Provider, error) {
	if err := c.Validate("eureka"); err != nil {
		return nil, err
	}
	if c.TagsKey == "" {
		c.TagsKey = "tags"
	}
	if c.PollInterval == 0 {
		c.PollInterval = ir.Duration(30 * time.Second)
	}
	if c.Timeout == 0 {
		c.Timeout = ir.Duration(5 * time.Second)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &discovery.Fetcher{Name: "eureka", Client: &http.Client{Timeout: time.Duration(c.Timeout)}, Limit: maxBody}
	for _, s := range c.Servers {
		f.Servers = append(f.Servers, strings.TrimRight(s, "/"))
	}
	p := &provider{cfg: c, log: log, http: f, ctx: ctx, cancel: cancel, changed: make(chan struct{})}
	go p.run()
	return p, nil
}

func (p *provider) run() {
	t := time.NewTicker(time.Duration(p.cfg.PollInterval))
	defer t.Stop()
	for {
		if err := p.refresh(); err != nil && p.ctx.Err() == nil {
			p.log.Warn("eureka: fetching the registry failed", "error", err)
		}
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh applies a delta, or fetches the full registry when there is no
// local one or the delta's hashcode disagrees with it.
func (p *provider) refresh() error {
	p.mu.Lock()
	have := p.reg != nil
	p.mu.Unlock()
	if have {
		body, err := p.get("/apps/delta")
		if err != nil {
			return err
		}
		delta, hash, err := decodeApps(body)
		if err != nil {
			return err
		}
		p.mu.Lock()
		next := make(map[string]Instance, len(p.reg))
		for k, v := range p.reg {
			next[k] = v
		}
		for k, in := range delta {
			switch in.ActionType {
			case "DELETED":
				delete(next, k)
			default: // ADDED, MODIFIED
				in.ActionType = ""
				next[k] = in
			}
		}
		ok := hashcode(next) == hash
		if ok {
			p.setLocked(next)
		}
		p.mu.Unlock()
		if ok {
			return nil
		}
	}
	body, err := p.get("/apps")
	if err != nil {
		return err
	}
	full, _, err := decodeApps(body)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.setLocked(full)
	p.mu.Unlock()
	return nil
}

func (p *provider) setLocked(reg map[string]Instance) {
	if p.reg != nil && reflect.DeepEqual(p.reg, reg) {
		return
	}
	p.reg = reg
	close(p.changed)
	p.changed = make(chan struct{})
}

var acceptJSON = http.Header{"Accept": {"application/json"}}

func (p *provider) get(path string) ([]byte, error) {
	body, _, err := p.http.Get(p.ctx, path, acceptJSON)
	return body, err
}

// Check reports whether q is a query this provider can answer, before
// any provider is opened (a service's discovery block is checked so).
func Check(q discovery.Query) error { return checkQuery(q) }

func checkQuery(q discovery.Query) error {
	if q.App == "" {
		return errors.New("eureka: query: app is required")
	}
	if q.Name != "" || q.SRV != "" || q.Port != 0 || len(q.Tags) > 0 || q.Namespace != "" || q.Partition != "" ||
		q.Datacenter != "" || q.Group != "" || len(q.Clusters) > 0 || q.Path != "" || q.Layout != "" {
		return fmt.Errorf("eureka: query for app %q: only app applies", q.App)
	}
	return nil
}

func (p *provider) set(app string) (discovery.Set, bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reg == nil {
		return discovery.Set{}, false, p.changed
	}
	s, dropped := toSet(p.reg, app, p.cfg.Secure, p.cfg.TagsKey)
	if dropped > 0 {
		p.log.Warn("eureka: dropped metadata that is not valid UTF-8", "app", app, "entries", dropped)
	}
	return s, true, p.changed
}

// Watch sends app's set once the registry is known and at each change.
func (p *provider) Watch(ctx context.Context, q discovery.Query, update func(discovery.Set)) error {
	if err := checkQuery(q); err != nil {
		return err
	}
	var last *discovery.Set
	for {
		s, known, changed := p.set(q.App)
		if known && (last == nil || !reflect.DeepEqual(*last, s)) {
			last = &s
			update(s)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return errClosed

		case <-changed:
		}
	}
}

// Resolve fetches GET /apps/{APP} once.
func (p *provider) Resolve(ctx context.Context, q discovery.Query) (discovery.Set, error) {
	if err := checkQuery(q); err != nil {
		return discovery.Set{}, err
	}
	body, err := p.get("/apps/" + url.PathEscape(strings.ToUpper(q.App)))
	if err != nil {
		return discovery.Set{}, err
	}
	reg, err := decodeApp(body)
	if err != nil {
		return discovery.Set{}, err
	}
	s, _ := toSet(reg, q.App, p.cfg.Secure, p.cfg.TagsKey)
	return s, nil
}

// Close stops the registry fetches.
func (p *provider) Close() error {
	p.cancel()
	return nil
}
