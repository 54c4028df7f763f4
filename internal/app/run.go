// Package app wires Pylon's long-running parts together. It is the one place
// that knows every component; read Run top to bottom to see the process.
package app

import (
	"context"
	"log/slog"
	"time"

	_ "pylon.io/pylon/internal/plugins/all" // the built-in plugins register themselves
)

// Options are `pylon run`'s settings.
type Options struct {
	ConfigPath string // file or directory; empty = the bundled example with its echo backends
	// FileDeleteGuard holds back a config file edit that would leave no
	// objects, or (below 1) delete more than this share of them, until
	// SIGHUP; 0 turns it off. See file.Source.SetDeleteGuard.
	FileDeleteGuard float64
	MetricsAddress  string
	// MetricsRoutes caps the routes with metric series of their own, the
	// busiest first: a count, "all", or "none"; empty is the default (100).
	MetricsRoutes string
	AccessLog     bool
	AccessLogPath string // empty or "-" = stdout
	// AccessLogFormat is "json" (the default when empty) or "text";
	// AccessLogFields picks a JSON line's fields, AccessLogTemplate a text
	// line's; AccessLogSample, when set, keeps that share (0-1) of the
	// lines of answers below 400.
	AccessLogFormat   string
	AccessLogFields   []string
	AccessLogTemplate string
	AccessLogSample   *float64
	// AccessLogFlags says that one of the access log flags was given; a
	// telemetry block's accessLog wins over them, and the log says so.
	AccessLogFlags bool
	DrainTimeout   time.Duration
	ShutdownDelay  time.Duration // not-ready before listeners close, for load balancers to notice
	Control        ControlOptions
	Kubernetes     KubernetesOptions
	Locality       LocalityOptions
	Log            *slog.Logger
}

// Runner is one long-running part of the process.
type Runner struct {
	Name  string
	Start func(ctx context.Context) error
}

// Run serves until ctx ends (SIGTERM/SIGINT), then drains. It builds the
// data plane (what serves traffic), binds the ops address, opens the
// control plane (where config comes from, feeding the data plane), and
// hands all three to the serve step.
func Run(ctx context.Context, o Options) error {
	dp, err := newDataPlane(o)
	if err != nil {
		return err
	}
	defer dp.close()
	defer reopenOnUSR1(dp.access, o.Log)()
	defer dp.telemetry.reloadOnHUP()()
	ops, err := listenOps(o.MetricsAddress, dp.metrics)
	if err != nil {
		return err
	}
	ops.SetDetail(dp.discovery.detail)
	// Where this gateway runs is known before any config arrives, so the
	// pools' first tables already prefer its zone.
	dp.runners = localityRunners(ctx, o.Locality, o.Kubernetes.Kubeconfig, dp.pools, o.Log)
	cp, err := newControlPlane(ctx, o, dp)
	if err != nil {
		return err
	}
	defer cp.close()
	defer confirmOnHUP(cp.file, o.Log)()
	ops.HandleFunc("/debug/config", configStatus(dp.compiler, cp.file))
	return serve(ctx, o, dp, cp, ops)
}
