package app

import (
	"fmt"
	"strconv"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/dataplane/listener"
	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// dataPlane is what serves traffic: the router, upstream pools, certificate
// index and plugin runtime that outlive config generations, the proxy and
// listeners in front of them, and the compile stage that updates them. It
// runs nothing of its own; the listeners open as the first config compiles.
type dataPlane struct {
	metrics   *telemetry.Metrics
	pools     *upstream.Registry
	members   *plugin.Members // the cluster's live nodes, for cluster-aware plugins
	listeners *listener.Manager
	compiler  *compile.Compiler

	access    *accessLog
	telemetry *telemetryState
	discovery *discoveryState
	runners   []Runner // the data plane's own long-running parts (its Node's zone)
}

// newDataPlane builds the data plane for o, with nothing configured yet.
func newDataPlane(o Options) (*dataPlane, error) {
	log := o.Log
	tcfg, err := loadTelemetry(o)
	if err != nil {
		return nil, err
	}
	access, err := newAccessLog(o)
	if err != nil {
		return nil, err
	}
	routeSeries, err := parseRouteSeries(o.MetricsRoutes)
	if err != nil {
		return nil, err
	}
	metrics := telemetry.NewMetrics(telemetry.WithRouteSeries(routeSeries))
	rt := router.New[*proxy.Route]()
	pools := upstream.NewRegistry(upstream.WithLogger(log))
	disc, err := newDiscovery(o, pools)
	if err != nil {
		access.close()
		return nil, err
	}
	metrics.Registry().MustRegister(discovery.NewCollector(disc.m))
	certs := tlsindex.New()
	members := plugin.NewMembers()
	plugins := plugin.NewRuntime(members, log)
	metrics.Registry().MustRegister(plugins.Metrics())

	px := proxy.New(rt, proxy.Options{Metrics: metrics, Access: access.AccessLog, Log: log, Plugins: plugins.Metrics(), ClientAuth: certs})

	listeners := listener.NewManager(listener.Handlers{Fast: px.ServeFast, Std: px, Certificates: certs.ForListener, ClientAuth: certs.ConfigForClient, Refused: px.Refused, Bind: px.Bind}, log)
	comp := compile.New(compile.Deps{Router: rt, Pools: pools, Certs: certs, Listeners: listeners, Metrics: metrics, Log: log, Plugins: plugins, Discovery: disc})
	metrics.SetCertificateSource(certs.EachExpiry)
	metrics.SetUpstreamSource(func(emit func(service, endpoint string, healthy bool)) {
		pools.Each(func(p *upstream.Pool) {
			for _, e := range p.Endpoints() {
				emit(p.Name(), e.Address(), e.Healthy())
			}
		})
	})
	metrics.SetLocalitySource(func(emit func(service, tier string, picks uint64)) {
		pools.Each(func(p *upstream.Pool) {
			if picks, ok := p.LocalityPicks(); ok {
				for t, n := range picks {
					emit(p.Name(), upstream.Tier(t).String(), n)
				}
			}
		})
	})
	tel := &telemetryState{o: o, log: log, proxy: px, access: access}
	if err := tel.apply(tcfg); err != nil {
		disc.close()
		access.close()
		return nil, err
	}
	metrics.Registry().MustRegister(tel)
	return &dataPlane{
		metrics: metrics, pools: pools, members: members, listeners: listeners, compiler: comp,
		access: access, telemetry: tel, discovery: disc,
	}, nil
}

// close stops what the data plane holds; the listeners are drained by the
// serve step before.
func (dp *dataPlane) close() {
	// Pools first (health checks end), then the access log flushes and its
	// file closes.
	dp.discovery.close()
	dp.pools.Close()
	dp.telemetry.close()
	dp.access.close()
}

// parseRouteSeries reads --metrics-routes.
func parseRouteSeries(v string) (int, error) {
	switch v {
	case "":
		return telemetry.DefaultRouteSeries, nil
	case "all":
		return telemetry.RouteSeriesAll, nil
	case "none":
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--metrics-routes: %q is not a count of routes, \"all\" or \"none\"", v)
	}
	return n, nil
}
