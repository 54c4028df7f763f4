package nacos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
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
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc

	mu   sync.Mutex
	next int // the server to try first
}

var _ discovery.Provider = (*provider)(nil)

// New returns a provider for c, which must have passed Validate.
func New(c Config, log *slog.Logger) (discovery.Provider, error) {
	if err := c.Validate("nacos"); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &provider{cfg: c, log: log, client: &http.Client{Timeout: c.Timeout}, ctx: ctx, cancel: cancel}, nil
}

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
	t := time.NewTicker(p.cfg.PollInterval)
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
	p.mu.Lock()
	first := p.next
	p.mu.Unlock()
	var errs []error
	for i := range p.cfg.Servers {
		n := (first + i) % len(p.cfg.Servers)
		si, set, err := p.fetchFrom(ctx, p.cfg.Servers[n], v)
		if err == nil {
			p.mu.Lock()
			p.next = n
			p.mu.Unlock()
			return si, set, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return serviceInfo{}, discovery.Set{}, errors.Join(errs...)
}

func (p *provider) fetchFrom(ctx context.Context, server string, v url.Values) (serviceInfo, discovery.Set, error) {
	u := "http://" + server + "/nacos/v1/ns/instance/list?" + v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return serviceInfo{}, discovery.Set{}, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return serviceInfo{}, discovery.Set{}, fmt.Errorf("nacos: %s: %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return serviceInfo{}, discovery.Set{}, fmt.Errorf("nacos: %s: %w", server, err)
	}
	if resp.StatusCode != http.StatusOK {
		return serviceInfo{}, discovery.Set{}, fmt.Errorf("nacos: %s: status %d: %.200s", server, resp.StatusCode, body)
	}
	si, set, dropped, err := decodeList(body, p.cfg)
	if err != nil {
		return si, set, fmt.Errorf("%w (from %s)", err, server)
	}
	if dropped > 0 {
		p.log.Warn("nacos: dropped metadata that is not valid UTF-8", "service", v.Get("serviceName"), "entries", dropped)
	}
	return si, set, nil
}
