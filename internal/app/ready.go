package app

import (
	"log/slog"
	"sync"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/telemetry"
)

// noListeners is /readyz's reason while no listener is live.
const noListeners = "no listeners are configured: nothing to serve"

// readiness decides what /readyz answers once every source's first load is
// live: ready while at least one listener is. A gateway without a listener
// has nothing to serve, and a load balancer or a rollout must not take it
// for a working one (a config directory that is empty, or a typo in its
// path). It turns ready as soon as a listener comes, from a file written
// later or the admin API. A control plane that only publishes to a fleet
// (--kubernetes-publish) has no listeners by design and is ready as soon as
// its sources are.
type readiness struct {
	ops           *telemetry.OpsServer
	comp          *compile.Compiler
	log           *slog.Logger
	config        string
	needListeners bool

	mu       sync.Mutex
	phase    int  // phaseStarting, phaseServing or phaseStopping
	ready    bool // what was last reported
	reported bool
}

const (
	phaseStarting = iota
	phaseServing
	phaseStopping
)

// serving is called once the first load is live.
func (r *readiness) serving() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = phaseServing
	r.updateLocked()
}

// stopping turns not ready for good: the process is draining.
func (r *readiness) stopping() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase = phaseStopping
	r.ops.SetReady(false)
}

// update looks again after a config change.
func (r *readiness) update() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == phaseServing {
		r.updateLocked()
	}
}

func (r *readiness) updateLocked() {
	ok := !r.needListeners || r.comp.Counts()[string(ir.KindListener)] > 0
	if r.reported && ok == r.ready {
		return
	}
	r.reported, r.ready = true, ok
	if ok {
		r.ops.SetReady(true)
		r.log.Info("pylon ready", "config", r.config, "metrics", r.ops.Addr().String())
		return
	}
	r.ops.SetNotReady(noListeners)
	r.log.Warn("pylon not ready: "+noListeners, "config", r.config, "metrics", r.ops.Addr().String(),
		"hint", "add a listener to the config (or through the admin API); /readyz answers 503 until one is live")
}
