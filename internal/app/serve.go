package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/telemetry"
)

// serve starts the runners, reports ready once every source's first load is
// live and there is a listener to serve on (see readiness), and on ctx's end (or a runner's failure) drains: not ready first,
// then the listeners stop accepting and finish what is in flight, then the
// runners stop.
func serve(ctx context.Context, o Options, dp *dataPlane, cp *controlPlane, ops *telemetry.OpsServer) error {
	log := o.Log
	runners := append(append([]Runner{{Name: "ops", Start: ops.Start}}, dp.runners...), cp.runners...)
	// The first load parses and compiles the whole config at once: mostly
	// short-lived garbage. A laxer GC target for that phase alone cuts the
	// time to serving (100k routes: ~10%); memory goes back to the OS once
	// the config is live.
	prevGC := debug.SetGCPercent(300)
	runCtx, stopRunners := context.WithCancel(context.Background())
	defer stopRunners()
	errc := make(chan error, len(runners))
	rd := &readiness{ops: ops, comp: dp.compiler, log: log, config: o.ConfigPath, needListeners: o.Kubernetes.Publish == ""}
	cp.gate.after = rd.update
	cp.gate.start(runCtx)
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
	case <-allClosed(cp.ready):
		debug.SetGCPercent(prevGC)
		go debug.FreeOSMemory()
		if bad := listenerFailures(dp.compiler); bad != nil {
			stopRunners()
			_ = dp.listeners.Shutdown(context.Background())
			return bad
		}
		rd.serving()
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
	rd.stopping()
	if o.ShutdownDelay > 0 {
		time.Sleep(o.ShutdownDelay)
	}
	dctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	if err := dp.listeners.Shutdown(dctx); err != nil {
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
