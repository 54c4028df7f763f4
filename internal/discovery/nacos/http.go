package nacos

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"pylon.io/pylon/internal/discovery"
)

// maxBody bounds one instance list answer.
const maxBody = 16 << 20

// httpProvider speaks the v1 HTTP naming API.
type httpProvider struct {
	cfg    Config
	log    *slog.Logger
	http   *discovery.Fetcher
	ctx    context.Context
	cancel context.CancelFunc
}

var _ discovery.Provider = (*httpProvider)(nil)

func newHTTP(c Config, log *slog.Logger) *httpProvider {
	ctx, cancel := context.WithCancel(context.Background())
	f := &discovery.Fetcher{Name: "nacos", Client: &http.Client{Timeout: time.Duration(c.Timeout)}, Limit: maxBody}
	for _, s := range c.Servers {
		f.Servers = append(f.Servers, "http://"+s)
	}
	return &httpProvider{cfg: c, log: log, http: f, ctx: ctx, cancel: cancel}
}

// Watch polls the instance list every PollInterval and sends each change.
func (p *httpProvider) Watch(ctx context.Context, q discovery.Query, update func(discovery.Set)) error {
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
func (p *httpProvider) Resolve(ctx context.Context, q discovery.Query) (discovery.Set, error) {
	if err := checkQuery(q); err != nil {
		return discovery.Set{}, err
	}
	_, set, err := p.fetch(ctx, q)
	return set, err
}

// Close ends every watch.
func (p *httpProvider) Close() error {
	p.cancel()
	return nil
}

func (p *httpProvider) fetch(ctx context.Context, q discovery.Query) (serviceInfo, discovery.Set, error) {
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
