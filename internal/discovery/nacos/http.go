package nacos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"pylon.io/pylon/internal/discovery"
)

// errClosed is what a Watch returns when Close ends it.
var errClosed = errors.New("nacos: provider closed")

// maxBody bounds one instance list answer.
const maxBody = 16 << 20

type provider struct {
	cfg    Config
	log    *slog.Logger
	http   *discovery.Fetcher
	ctx    context.Context
	cancel context.CancelFunc
}

var _ discovery.Provider = (*provider)(nil)

// New returns a provider for c, which must have passed Validate.
func New(c Config, log *slog.Logger) (discovery.Provider, error) {
	if err := c.Validate("nacos"); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	f := &discovery.Fetcher{Name: "nacos", Client: &http.Client{Timeout: time.Duration(c.Timeout)}, Limit: maxBody}
	for _, s := range c.Servers {
		f.Servers = append(f.Servers, "http://"+s)
	}
	return &provider{cfg: c, log: log, http: f, ctx: ctx, cancel: cancel}, nil
}

// Check reports whether q is a query this provider can answer, before
// any provider is opened (a service's discovery block is checked so).
func Check(q discovery.Query) error { return checkQuery(q) }

func checkQuery(q discovery.Query) error {
	if q.Name == "" {
		return errors.New("nacos: query: name is required")
	}
	if q.SRV != "" || q.Port != 0 || len(q.Tags) > 0 || q.Partition != "" || q.Datacenter != "" ||
		q.App != "" || q.Path != "" || q.Layout != "" {
		return fmt.Errorf("nacos: query %q: only name, namespace, group and clusters apply", q.Name)
	}
	return nil
}

// Watch polls the instance list every PollInterval and sends each change.
func (p *provider) Watch(ctx context.Context, q discovery.Query, update func(discovery.Set)) error {
	if err := checkQuery(q); err != nil {
		return err
	}
	var last *discovery.Set
	lastSum := ""
	t := time.NewTicker(time.Duration(p.cfg.PollInterval))
	defer t.Stop()
	for {
		si, set, err := p.fetch(ctx, q)
		switch {
		case err != nil:
			if ctx.Err() == nil && p.ctx.Err() == nil {
				p.log.Warn("nacos: polling failed", "service", q.Name, "error", err)
			}
		case si.Checksum != "" && si.Checksum == lastSum:
		case last == nil || !reflect.DeepEqual(*last, set):
			last, lastSum = &set, si.Checksum
			update(set)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return errClosed
		case <-t.C:
		}
	}
}

// Resolve fetches the instance list once.
func (p *provider) Resolve(ctx context.Context, q discovery.Query) (discovery.Set, error) {
	if err := checkQuery(q); err != nil {
		return discovery.Set{}, err
	}
	_, set, err := p.fetch(ctx, q)
	return set, err
}

// Close ends every watch.
func (p *provider) Close() error {
	p.cancel()
	return nil
}

func (p *provider) fetch(ctx context.Context, q discovery.Query) (serviceInfo, discovery.Set, error) {
	v := url.Values{}
	v.Set("serviceName", q.Name)
	if q.Group != "" {
		v.Set("groupName", q.Group)
	}
	ns := p.cfg.Namespace
	if q.Namespace != "" {
		ns = q.Namespace
	}
	if ns != "" {
		v.Set("namespaceId", ns)
	}
	if len(q.Clusters) > 0 {
		v.Set("clusters", strings.Join(q.Clusters, ","))
	}
	v.Set("healthyOnly", "false")
	body, server, err := p.http.Get(ctx, "/nacos/v1/ns/instance/list?"+v.Encode(), nil)
	if err != nil {
		return serviceInfo{}, discovery.Set{}, err
	}
	si, set, dropped, err := decodeList(body, p.cfg)
	if err != nil {
		return si, set, fmt.Errorf("%w (from %s)", err, server)
	}
	if dropped > 0 {
		p.log.Warn("nacos: dropped metadata that is not valid UTF-8", "service", q.Name, "entries", dropped)
	}
	return si, set, nil
}
