// Package app wires Pylon's long-running parts together. It is the one place
// that knows every component; read Run top to bottom to see the process.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"time"

	"pylon.io/pylon/examples"
	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/dataplane/listener"
	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/demo"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	_ "pylon.io/pylon/internal/plugins/all" // the built-in plugins register themselves
	"pylon.io/pylon/internal/source/file"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// Options are `pylon run`'s settings.
type Options struct {
	ConfigPath     string // file or directory; empty = the bundled example with its echo backends
	MetricsAddress string
	AccessLog      bool
	AccessLogPath  string // empty or "-" = stdout
	DrainTimeout   time.Duration
	ShutdownDelay  time.Duration // not-ready before listeners close, for load balancers to notice
	Control        ControlOptions
	Kubernetes     KubernetesOptions
	Log            *slog.Logger
}

// Runner is one long-running part of the process.
type Runner struct {
	Name  string
	Start func(ctx context.Context) error
}

// Run serves until ctx ends (SIGTERM/SIGINT), then drains.
func Run(ctx context.Context, o Options) error {
	log := o.Log
	metrics := telemetry.NewMetrics()
	accessOut, closeAccess, err := openAccessLog(o.AccessLogPath)
	if err != nil {
		return err
	}
	defer closeAccess()
	access := telemetry.NewAccessLog(accessOut)
	access.SetEnabled(o.AccessLog)
	defer access.Close()

	rt := router.New[*proxy.Route]()
	pools := upstream.NewRegistry(upstream.WithLogger(log))
	defer pools.Close()
	certs := tlsindex.New()
	px := proxy.New(rt, metrics, access, log)
	members := plugin.NewMembers()
	o.Control.Members = members
	plugins := plugin.NewRuntime(members, log)
	metrics.Registry().MustRegister(plugins.Metrics())
	px.SetPluginMetrics(plugins.Metrics())
	px.SetClientAuth(certs)
	listeners := listener.NewManager(listener.Handlers{Fast: px.ServeFast, Std: px, Certificates: certs.ForListener, ClientAuth: certs.ConfigForClient, Refused: px.Refused}, log)
	comp := compile.New(compile.Deps{Router: rt, Pools: pools, Certs: certs, Listeners: listeners, Metrics: metrics, Log: log, Plugins: plugins})
	metrics.SetUpstreamSource(func(emit func(service, endpoint string, healthy bool)) {
		pools.Each(func(p *upstream.Pool) {
			for _, e := range p.Endpoints() {
				emit(p.Name(), e.Address(), e.Healthy())
			}
		})
	})

	ops := telemetry.NewOpsServer(o.MetricsAddress, metrics)
	var src *file.Source
	ops.HandleFunc("/debug/config", func(w http.ResponseWriter, _ *http.Request) { writeConfigStatus(w, comp, src) })
	// Profiles on the ops address (loopback by default), for finding what
	// limits a busy gateway in production as in benchmarks.
	ops.HandleFunc("/debug/pprof/", pprof.Index)
	ops.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ops.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if err := ops.Listen(); err != nil {
		return err
	}

	path := o.ConfigPath
	if o.Kubernetes.Enabled && path == "" && o.Kubernetes.Publish == "" {
		return errKubeNoListeners
	}
	if o.Kubernetes.Enabled && o.Control.Store != "" {
		// This process serves Kubernetes itself: it must not also serve a
		// published copy of the same objects.
		o.Control.skipPublished = true
	}
	if path == "" && o.Control.Store == "" && !o.Kubernetes.Enabled {
		dir, err := os.MkdirTemp("", "pylon-example-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "quickstart.yaml")
		if err := os.WriteFile(path, examples.Quickstart, 0o644); err != nil {
			return err
		}
		if err := demo.Serve(ctx, log, "127.0.0.1:9001", "127.0.0.1:9002"); err != nil {
			return fmt.Errorf("example backends: %w", err)
		}
		log.Info("serving the bundled example", "try", "curl -H 'Host: echo.example.com' http://127.0.0.1:8080/")
	}
	ctl, err := openControl(ctx, o.Control, comp, metrics, log)
	if err != nil {
		return err
	}
	defer ctl.close()

	// The first load parses and compiles the whole config at once: mostly
	// short-lived garbage. A laxer GC target for that phase alone cuts the
	// time to serving (100k routes: ~10%); memory goes back to the OS once
	// the config is live.
	prevGC := debug.SetGCPercent(300)
	runCtx, stopRunners := context.WithCancel(context.Background())
	defer stopRunners()
	runners := []Runner{{Name: "ops", Start: ops.Start}}
	var ready []<-chan struct{}
	if path != "" {
		src = file.New(path, log)
		runners = append(runners, Runner{Name: "file-source", Start: func(ctx context.Context) error { return src.Run(ctx, comp) }})
		ready = append(ready, src.Ready())
	}
	if ctl != nil {
		runners = append(runners, ctl.runners(comp, o.Control, log)...)
		ready = append(ready, ctl.ready()...)
	}
	if o.Kubernetes.Enabled {
		rs, synced, closeKube, err := kubernetesRunner(ctx, o.Kubernetes, comp, pools, members, log)
		if err != nil {
			return err
		}
		defer closeKube()
		runners = append(runners, rs...)
		ready = append(ready, synced)
	}
	errc := make(chan error, len(runners))
	for _, r := range runners {
		go func() {
			if err := r.Start(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", r.Name, err)
				return
			}
			errc <- nil
		}()
	}

	select {
	case <-allClosed(ready):
		debug.SetGCPercent(prevGC)
		go debug.FreeOSMemory()
		if bad := listenerFailures(comp); bad != nil {
			stopRunners()
			_ = listeners.Shutdown(context.Background())
			return bad
		}
		ops.SetReady(true)
		log.Info("pylon ready", "config", o.ConfigPath, "metrics", ops.Addr().String())
	case err := <-errc:
		if err == nil {
			err = errors.New("config source stopped before the first load")
		}
		return err
	case <-ctx.Done():
	}

	var runErr error
	running := len(runners)
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		running--
	}
	// Graceful stop: not ready first, then stop accepting and drain.
	log.Info("shutting down", "drainTimeout", o.DrainTimeout.String())
	ops.SetReady(false)
	if o.ShutdownDelay > 0 {
		time.Sleep(o.ShutdownDelay)
	}
	dctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	if err := listeners.Shutdown(dctx); err != nil {
		log.Warn("drain incomplete", "error", err)
	}
	stopRunners()
	// The runners stop on their own way out before the deferred closes
	// run: the cluster member revokes its lease (so the node leaves the
	// fleet at once) and the admin API lets in-flight commits finish, and
	// both need the store still open.
	waitRunners(errc, running, runnerStopTimeout, log)
	return runErr
}

// runnerStopTimeout bounds how long a stop waits for the runners to return;
// the admin API alone may take ten seconds to finish its requests.
const runnerStopTimeout = 15 * time.Second

// waitRunners waits until n more runners have reported on errc, or timeout.
func waitRunners(errc <-chan error, n int, timeout time.Duration, log *slog.Logger) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for ; n > 0; n-- {
		select {
		case <-errc:
		case <-t.C:
			log.Warn("runners did not stop in time", "running", n, "timeout", timeout.String())
			return
		}
	}
}

// allClosed returns a channel closed once every channel in cs is.
func allClosed(cs []<-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for _, c := range cs {
			<-c
		}
		close(done)
	}()
	return done
}

// listenerFailures turns listeners that could not start on the first load
// into a startup error: a gateway that cannot bind its ports must not look healthy.
func listenerFailures(c *compile.Compiler) error {
	var errs []error
	for k, err := range c.Rejected() {
		if k.Kind == "listener" {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func openAccessLog(path string) (io.Writer, func(), error) {
	if path == "" || path == "-" {
		return os.Stdout, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// writeConfigStatus serves /debug/config: the config version, the last
// change's compile and propagation times, and every rejected object, both
// those the source could not read and those the compile stage refused.
func writeConfigStatus(w http.ResponseWriter, c *compile.Compiler, src *file.Source) {
	st := c.Stats()
	rej := c.Rejected()
	type rejected struct {
		Object string `json:"object"`
		Error  string `json:"error"`
	}
	out := struct {
		Version         uint64         `json:"version"`
		LastApplied     time.Time      `json:"lastApplied"`
		LastCompileMs   float64        `json:"lastCompileMs"`
		LastPropagateMs float64        `json:"lastPropagateMs"`
		HostsTouched    int            `json:"hostsTouched"`
		Objects         map[string]int `json:"objects"` // live objects by kind
		Rejected        []rejected     `json:"rejected"`
	}{st.Version, st.LastApplied, ms(st.LastCompile), ms(st.LastPropagate), st.HostsTouched, c.Counts(), []rejected{}}
	for k, err := range rej {
		out.Rejected = append(out.Rejected, rejected{k.String(), err.Error()})
	}
	if src != nil {
		for _, err := range src.Problems() {
			var fe *ir.FieldError
			obj := ""
			if errors.As(err, &fe) && fe.Kind != "" {
				obj = ir.Key{Kind: fe.Kind, Source: "file", Namespace: "default", Name: fe.Name}.String()
			} else if e := (*file.Error)(nil); errors.As(err, &e) {
				obj = e.File
			}
			out.Rejected = append(out.Rejected, rejected{obj, err.Error()})
		}
	}
	sort.Slice(out.Rejected, func(i, j int) bool { return out.Rejected[i].Object < out.Rejected[j].Object })
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
