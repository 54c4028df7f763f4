package nacos

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_cache"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/http_agent"
	"github.com/nacos-group/nacos-sdk-go/v2/common/nacos_server"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/util"

	"pylon.io/pylon/internal/discovery"
)

// grpcProvider speaks the v2 gRPC naming API through the Nacos Go SDK.
//
// It builds on the SDK's gRPC naming proxy and service cache rather than
// on its NamingClient, which also starts the v1 UDP push receiver: a
// socket on every interface whose goroutine no Close can end. The proxy
// is the part of the NamingClient that speaks v2; the provider does the
// rest of what NamingClient.Subscribe and CloseClient do. One SDK client
// serves one namespace, so the provider opens one per namespace it is
// asked for.
type grpcProvider struct {
	cfg     Config
	log     *slog.Logger
	dir     string // the SDK's cache directory, removed by Close
	servers []constant.ServerConfig
	ctx     context.Context
	cancel  context.CancelFunc
	calls   sync.WaitGroup // Watches and Resolves under way

	mu      sync.Mutex
	closed  bool
	clients map[string]*nsClient // by namespace
}

var _ discovery.Provider = (*grpcProvider)(nil)

// nsClient is the SDK client of one namespace.
type nsClient struct {
	cancel context.CancelFunc
	proxy  *naming_grpc.NamingGrpcProxy
	holder *naming_cache.ServiceInfoHolder

	subMu   sync.Mutex     // orders subscribe and unsubscribe requests
	watches map[string]int // per subscription, under subMu
}

func newGRPC(c Config, log *slog.Logger) (*grpcProvider, error) {
	setSDKLogger(log)
	// The SDK writes each service it hears to a cache directory (it has
	// no switch for that); it gets one of its own, gone after Close.
	dir, err := os.MkdirTemp("", "pylon-nacos-")
	if err != nil {
		return nil, fmt.Errorf("nacos: cache directory: %w", err)
	}
	p := &grpcProvider{cfg: c, log: log, dir: dir, clients: map[string]*nsClient{}}
	for _, s := range c.Servers {
		host, port, _ := net.SplitHostPort(s) // checked by Validate
		n, _ := strconv.Atoi(port)
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // the SDK joins host and port as they are
		}
		p.servers = append(p.servers, constant.ServerConfig{IpAddr: host, Port: uint64(n),
			GrpcPort: uint64(n + grpcPortOffset), Scheme: "http", ContextPath: "/nacos"})
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// enter counts a call under way, unless the provider is closed.
func (p *grpcProvider) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.calls.Add(1)
	return true
}

// client returns the SDK client of namespace ns, opening it the first
// time. Opening does not wait for a server: the SDK connects in the
// background and sends its subscriptions again on each new connection.
func (p *grpcProvider) client(ns string) (*nsClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.clients[ns]; c != nil {
		return c, nil
	}
	cc := constant.ClientConfig{
		NamespaceId:          ns,
		TimeoutMs:            uint64(time.Duration(p.cfg.Timeout).Milliseconds()),
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true, // an empty service is news, not a hiccup to hide
		CacheDir:             p.dir,
		LogDir:               p.dir,
		LogLevel:             "warn",
		// Appointed: take this TLS config, not one from the environment.
		TLSCfg: constant.TLSConfig{Appointed: true},
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := nacos_server.NewNacosServer(ctx, p.servers, cc, &http_agent.HttpAgent{}, cc.TimeoutMs, "", nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("nacos: %w", err)
	}
	holder := naming_cache.NewServiceInfoHolder(ns, p.dir, cc.UpdateCacheWhenEmpty, cc.NotLoadCacheAtStart)
	proxy, err := naming_grpc.NewNamingGrpcProxy(ctx, cc, srv, holder)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("nacos: %w", err)
	}
	c := &nsClient{cancel: cancel, proxy: proxy, holder: holder, watches: map[string]int{}}
	p.clients[ns] = c
	return c, nil
}

// target is what one query names in the SDK's terms.
type target struct {
	ns, name, group, clusters string
}

func (p *grpcProvider) target(q discovery.Query) target {
	t := target{ns: p.cfg.Namespace, name: q.Name, group: q.Group, clusters: strings.Join(q.Clusters, ",")}
	if q.Namespace != "" {
		t.ns = q.Namespace
	}
	if t.ns == "" {
		t.ns = constant.DEFAULT_NAMESPACE_ID
	}
	if t.group == "" {
		t.group = constant.DEFAULT_GROUP
	}
	return t
}

func (t target) key() string {
	return util.GetServiceCacheKey(util.GetGroupName(t.name, t.group), t.clusters)
}

// Watch subscribes to q and sends the service each time the server pushes
// a change. A subscription the server did not take is asked for again
// with backoff; after a reconnect the SDK renews it by itself.
func (p *grpcProvider) Watch(ctx context.Context, q discovery.Query, update func(discovery.Set)) error {
	if err := checkQuery(q); err != nil {
		return err
	}
	if !p.enter() {
		return errClosed
	}
	defer p.calls.Done()
	t := p.target(q)
	c, err := p.client(t.ns)
	if err != nil {
		return err
	}
	// The SDK calls back from its receiving goroutine; the callback only
	// flags a change, and this loop reads the newest service from the
	// SDK's cache, so a slow update never holds up the connection and no
	// older state overtakes a newer one.
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	cb := func([]model.Instance, error) { notify() }
	c.watch(t, &cb)
	defer p.unwatch(c, t, &cb)

	var last *discovery.Set
	retry := time.NewTimer(0)
	defer retry.Stop()
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.ctx.Done():
			return errClosed
		case <-retry.C:
			if err := c.subscribe(t); err != nil {
				if ctx.Err() == nil && p.ctx.Err() == nil {
					p.log.Warn("nacos: subscribing failed; retrying", "service", q.Name, "retry", backoff.String(), "error", err.Error())
				}
				retry.Reset(backoff)
				backoff = min(backoff*2, 30*time.Second)
				continue
			}
			notify()
		case <-changed:
			svc, ok := c.holder.GetServiceInfo(t.name, t.group, t.clusters)
			if !ok {
				continue
			}
			set := p.toSet(q, svc.Hosts)
			if last == nil || !reflect.DeepEqual(*last, set) {
				last = &set
				update(set)
			}
		}
	}
}

// Resolve asks the server for q's service once (a ServiceQueryRequest),
// not the SDK's cache: the Manager resolves when a watch has gone quiet,
// and a cached answer would hide a server that no longer answers.
func (p *grpcProvider) Resolve(ctx context.Context, q discovery.Query) (discovery.Set, error) {
	if err := checkQuery(q); err != nil {
		return discovery.Set{}, err
	}
	if !p.enter() {
		return discovery.Set{}, errClosed
	}
	defer p.calls.Done()
	t := p.target(q)
	c, err := p.client(t.ns)
	if err != nil {
		return discovery.Set{}, err
	}
	type answer struct {
		svc *model.Service
		err error
	}
	ch := make(chan answer, 1)
	p.calls.Add(1) // the SDK call takes no context; Close waits for it
	go func() {
		defer p.calls.Done()
		svc, err := sdkCall(func() (*model.Service, error) {
			return c.proxy.QueryInstancesOfService(t.name, t.group, t.clusters, 0, false)
		})
		ch <- answer{svc, err}
	}()
	select {
	case <-ctx.Done():
		return discovery.Set{}, ctx.Err()
	case a := <-ch:
		if a.err != nil {
			return discovery.Set{}, fmt.Errorf("nacos: querying %s in namespace %s from %s: %w",
				util.GetGroupName(t.name, t.group), t.ns, strings.Join(p.cfg.Servers, ", "), a.err)
		}
		return p.toSet(q, a.svc.Hosts), nil
	}
}

func (p *grpcProvider) toSet(q discovery.Query, hosts []model.Instance) discovery.Set {
	set, dropped := toSet(fromSDK(hosts), p.cfg)
	if dropped > 0 {
		p.log.Warn("nacos: dropped metadata that is not valid UTF-8", "service", q.Name, "entries", dropped)
	}
	return set
}

// Close ends every watch (each unsubscribes on its way out), then closes
// the SDK clients and removes their cache.
func (p *grpcProvider) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.calls.Wait() // from here on no call opens a client
	for _, c := range p.clients {
		c.proxy.CloseClient()
		c.cancel()
	}
	return os.RemoveAll(p.dir)
}

// watch registers cb for t's changes and counts the watch.
func (c *nsClient) watch(t target, cb *func([]model.Instance, error)) {
	c.holder.RegisterCallback(util.GetGroupName(t.name, t.group), t.clusters, cb)
	c.subMu.Lock()
	c.watches[t.key()]++
	c.subMu.Unlock()
}

// subscribe asks the server for pushes of t and caches its answer (which
// calls the watches back when it is news).
func (c *nsClient) subscribe(t target) error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	svc, err := sdkCall(func() (model.Service, error) { return c.proxy.Subscribe(t.name, t.group, t.clusters) })
	if err != nil {
		return err
	}
	c.holder.ProcessService(&svc)
	return nil
}

// unwatch drops cb; the last watch of t unsubscribes.
func (p *grpcProvider) unwatch(c *nsClient, t target, cb *func([]model.Instance, error)) {
	c.holder.DeregisterCallback(util.GetGroupName(t.name, t.group), t.clusters, cb)
	c.subMu.Lock()
	defer c.subMu.Unlock()
	if c.watches[t.key()]--; c.watches[t.key()] > 0 {
		return
	}
	delete(c.watches, t.key())
	c.holder.StopUpdateIfContain(util.GetGroupName(t.name, t.group), t.clusters)
	if p.ctx.Err() != nil && !c.proxy.ServerHealthy() {
		// Closing while no server answers: the connection and the SDK's
		// record of the subscription end with the client, and waiting out
		// a request per watch would only hold up the shutdown.
		return
	}
	if _, err := sdkCall(func() (struct{}, error) { return struct{}{}, c.proxy.Unsubscribe(t.name, t.group, t.clusters) }); err != nil {
		// The server forgets the subscription with the connection anyway.
		p.log.Debug("nacos: unsubscribing failed", "service", t.name, "error", err.Error())
	}
}

// sdkCall runs f, turning a panic in the SDK into an error: it asserts
// the type of the server's answers, and a server that answers with
// another type must not take the gateway down.
func sdkCall[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unexpected answer from the server: %v", r)
		}
	}()
	return f()
}
