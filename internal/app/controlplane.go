package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"pylon.io/pylon/examples"
	"pylon.io/pylon/internal/demo"
	"pylon.io/pylon/internal/source/file"
)

// controlPlane is where config comes from: the file source, the admin API
// over its store (with the cluster's membership), and Kubernetes. All of
// them feed the data plane's compile stage. It is built with everything
// open but nothing running; the serve step starts its runners.
type controlPlane struct {
	file    *file.Source // nil without a config file
	gate    *startGate   // between every source and the compile stage
	runners []Runner
	ready   []<-chan struct{} // closed once each source's first load is live
	closers []func()          // run in reverse order
}

// errKubeNoListeners: with --kubernetes the listeners still come from a file.
var errKubeNoListeners = errors.New("--kubernetes needs --config with the listeners")

// newControlPlane opens the sources o names, to feed dp. On an error it
// closes what it had opened.
func newControlPlane(ctx context.Context, o Options, dp *dataPlane) (_ *controlPlane, err error) {
	log := o.Log
	if o.Kubernetes.Enabled && o.ConfigPath == "" && o.Kubernetes.Publish == "" {
		return nil, errKubeNoListeners
	}
	cp := &controlPlane{gate: newStartGate(dp.compiler, log)}
	defer func() {
		if err != nil {
			cp.close()
		}
	}()
	path := o.ConfigPath
	if path == "" && o.Control.Store == "" && !o.Kubernetes.Enabled {
		if path, err = cp.bundledExample(ctx, log); err != nil {
			return nil, err
		}
	}
	ctl, err := openControl(ctx, o.Control, controlDeps{
		compiler: dp.compiler, metrics: dp.metrics, members: dp.members, log: log,
		// This process serves Kubernetes itself: it must not also serve a
		// published copy of the same objects.
		skipPublished: o.Kubernetes.Enabled && o.Control.Store != "",
	})
	if err != nil {
		return nil, err
	}
	cp.closers = append(cp.closers, ctl.close)
	if path != "" {
		src := file.New(path, log)
		src.SetDeleteGuard(o.FileDeleteGuard)
		cp.file = src
		sink := cp.gate.join("file", src.Ready())
		cp.runners = append(cp.runners, Runner{Name: "file-source", Start: func(ctx context.Context) error { return src.Run(ctx, sink) }})
		cp.ready = append(cp.ready, src.Ready())
	}
	if ctl != nil {
		cp.runners = append(cp.runners, ctl.runners(cp.gate)...)
		cp.ready = append(cp.ready, ctl.ready()...)
	}
	if o.Kubernetes.Enabled {
		kube := cp.gate.join("kubernetes", nil)
		rs, synced, closeKube, err := kubernetesRunner(ctx, o.Kubernetes, kube, dp.pools, dp.members, log)
		if err != nil {
			return nil, err
		}
		kube.ready = synced
		cp.closers = append(cp.closers, closeKube)
		cp.runners = append(cp.runners, rs...)
		cp.ready = append(cp.ready, synced)
	}
	return cp, nil
}

// bundledExample writes the quickstart config to a temporary directory and
// starts its echo backends, for `pylon run` with no config at all.
func (cp *controlPlane) bundledExample(ctx context.Context, log *slog.Logger) (string, error) {
	dir, err := os.MkdirTemp("", "pylon-example-")
	if err != nil {
		return "", err
	}
	cp.closers = append(cp.closers, func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "quickstart.yaml")
	if err := os.WriteFile(path, examples.Quickstart, 0o644); err != nil {
		return "", err
	}
	if err := demo.Serve(ctx, log, "127.0.0.1:9001", "127.0.0.1:9002"); err != nil {
		return "", fmt.Errorf("example backends: %w", err)
	}
	log.Info("serving the bundled example", "try", "curl -H 'Host: echo.example.com' http://127.0.0.1:8080/")
	return path, nil
}

// close closes the sources' stores and clients, last opened first.
func (cp *controlPlane) close() {
	for i := len(cp.closers) - 1; i >= 0; i-- {
		cp.closers[i]()
	}
}
