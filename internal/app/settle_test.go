package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
	"pylon.io/pylon/internal/dataplane/tlsindex"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

func newTestCompiler(t *testing.T) *compile.Compiler {
	t.Helper()
	pools := upstream.NewRegistry()
	t.Cleanup(pools.Close)
	log := slog.New(slog.DiscardHandler)
	return compile.New(compile.Deps{Router: router.New[*proxy.Route](), Pools: pools, Certs: tlsindex.New(), Log: log, Plugins: plugin.NewRuntime(nil, log), Metrics: telemetry.NewMetrics()})
}

func testRoute(source, name, service string) ir.Object {
	return ir.NewObject(source, "default", &ir.Route{Name: name, Hosts: []string{name + ".test"}, Backends: []ir.Backend{{Service: service, Weight: 1}}})
}

func testService(source, name string) ir.Object {
	return ir.NewObject(source, "default", &ir.Service{Name: name, Endpoints: []ir.Endpoint{{Address: "127.0.0.1:1"}}})
}

// TestStartGateAppliesFirstLoadsTogether: whichever source finishes its
// first load first, objects that use another source's objects are not
// refused, while an object whose service exists nowhere still is; a source
// with nothing to send (its ready channel closed) holds nobody up.
func TestStartGateAppliesFirstLoadsTogether(t *testing.T) {
	for _, apiFirst := range []bool{true, false} {
		name := "file first"
		if apiFirst {
			name = "api first"
		}
		t.Run(name, func(t *testing.T) {
			comp := newTestCompiler(t)
			g := newStartGate(comp, slog.New(slog.DiscardHandler))
			fileReady, apiReady, emptyReady := make(chan struct{}), make(chan struct{}), make(chan struct{})
			fileSrc, apiSrc := g.join("file", fileReady), g.join("store", apiReady)
			g.join("kubernetes", emptyReady)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			g.start(ctx)

			fileCh := ir.Change{Upserts: []ir.Object{testService("file", "backend"), testRoute("file", "fileuser", "apisvc")}}
			apiCh := ir.Change{Upserts: []ir.Object{testService("api", "apisvc"), testRoute("api", "mixed", "backend"), testRoute("api", "orphan", "nosuch")}}
			first, second := fileSrc, apiSrc
			firstCh, secondCh := fileCh, apiCh
			if apiFirst {
				first, second, firstCh, secondCh = apiSrc, fileSrc, apiCh, fileCh
			}
			results := make(chan ir.Result, 1)
			go func() { results <- first.Apply(firstCh) }()
			select {
			case res := <-results:
				t.Fatalf("the first load was applied before the other sources were in: %v", res.Rejected)
			case <-time.After(50 * time.Millisecond):
			}
			close(emptyReady)
			secondRes := second.Apply(secondCh)
			firstRes := <-results
			close(fileReady)
			close(apiReady)

			fileRes, apiRes := firstRes, secondRes
			if apiFirst {
				fileRes, apiRes = secondRes, firstRes
			}
			if len(fileRes.Rejected) != 0 {
				t.Errorf("file source told of rejections: %v", fileRes.Rejected)
			}
			orphan := ir.Key{Kind: ir.KindRoute, Source: "api", Namespace: "default", Name: "orphan"}
			if len(apiRes.Rejected) != 1 || apiRes.Rejected[orphan] == nil || !strings.Contains(apiRes.Rejected[orphan].Error(), `unknown service "nosuch"`) {
				t.Errorf("store source told %v, want the orphan route's unknown service only", apiRes.Rejected)
			}
			// Once open, a change goes straight through.
			res := apiSrc.Apply(ir.Change{Upserts: []ir.Object{testService("api", "nosuch")}})
			if len(res.Rejected) != 0 || len(comp.Rejected()) != 0 {
				t.Errorf("after the gate opened: %v, compile stage still rejects %v", res.Rejected, comp.Rejected())
			}
		})
	}
}

// TestStartGateOpensWhenContextEnds: a source that never loads does not
// keep the others' changes back once the process stops.
func TestStartGateOpensWhenContextEnds(t *testing.T) {
	comp := newTestCompiler(t)
	g := newStartGate(comp, slog.New(slog.DiscardHandler))
	src := g.join("file", make(chan struct{}))
	g.join("kubernetes", make(chan struct{})) // never ready
	ctx, cancel := context.WithCancel(context.Background())
	g.start(ctx)
	done := make(chan ir.Result, 1)
	go func() { done <- src.Apply(ir.Change{Upserts: []ir.Object{testService("file", "backend")}}) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a held change did not go through after the context ended")
	}
	if got := comp.Counts()["service"]; got != 1 {
		t.Fatalf("services live: %d, want 1", got)
	}
}
