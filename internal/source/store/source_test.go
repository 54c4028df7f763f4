package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/bolt"
	"pylon.io/pylon/internal/store/etcd"
	"pylon.io/pylon/test/testenv"
)

// recorder is a Sink that keeps the objects it was given.
type recorder struct {
	mu      sync.Mutex
	objs    map[ir.Key]ir.Object
	changes int
}

func (r *recorder) Apply(ch ir.Change) ir.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.objs == nil {
		r.objs = map[ir.Key]ir.Object{}
	}
	for _, o := range ch.Upserts {
		r.objs[o.Key] = o
	}
	for _, k := range ch.Deletes {
		delete(r.objs, k)
	}
	r.changes++
	return ir.Result{}
}

func (r *recorder) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.objs[ir.Key{Kind: ir.KindRoute, Source: store.Source, Namespace: "default", Name: name}]
	return ok
}

func putRoute(t *testing.T, st store.Store, name string) int64 {
	t.Helper()
	b, _ := json.Marshal(&ir.Route{Name: name, Hosts: []string{name + ".test"}, Backends: []ir.Backend{{Service: "s"}}})
	rev, err := st.Commit(context.Background(), []store.Op{{Key: ir.Key{Kind: ir.KindRoute, Source: store.Source, Namespace: "default", Name: name}, Value: b}})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not within 5s", what)
}

func TestSourceFollowsStore(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "pylon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	putRoute(t, st, "before")
	src := New(st, slog.New(slog.DiscardHandler))
	sink := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx, sink)
	<-src.Ready()
	if !sink.has("before") {
		t.Fatal("stored object not applied before Ready")
	}
	rev := putRoute(t, st, "after")
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if err := src.WaitRevision(wctx, rev); err != nil {
		t.Fatal(err)
	}
	if !sink.has("after") || src.Revision() < rev {
		t.Fatal("WaitRevision returned before the write was applied")
	}
}

// TestRestartResumesFromCache: a node restarted with its local copy serves it
// before etcd is consulted, then receives only what changed meanwhile (the
// watch resumes at the cached revision: no full reset).
func TestRestartResumesFromCache(t *testing.T) {
	e := testenv.StartEtcd(t)
	st, err := etcd.Open(context.Background(), []string{e.Endpoint()}, "/pylon-test")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cachePath := filepath.Join(t.TempDir(), "cache.db")
	run := func(sink *recorder, logs *lockedBuffer) (stop func()) {
		cache, err := OpenCache(cachePath, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		src := New(st, slog.New(slog.NewTextHandler(logs, nil))).WithCache(cache)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { src.Run(ctx, sink); close(done) }()
		<-src.Ready()
		return func() { cancel(); <-done; cache.Close() }
	}
	for i := range 20 {
		putRoute(t, st, "r"+string(rune('a'+i)))
	}
	first := &recorder{}
	stop := run(first, &lockedBuffer{})
	eventually(t, "first run applies the stored routes", func() bool { return first.has("rt") })
	time.Sleep(100 * time.Millisecond) // let the cache writer flush
	stop()

	putRoute(t, st, "while-down")
	second := &recorder{}
	var logs lockedBuffer
	stop = run(second, &logs)
	defer stop()
	if !second.has("ra") {
		t.Fatal("the cached copy was not applied at start")
	}
	eventually(t, "the change made while stopped arrives", func() bool { return second.has("while-down") })
	if strings.Contains(logs.String(), "history lost") || !strings.Contains(logs.String(), "resuming from the local copy") {
		t.Fatalf("restart did not resume from its revision:\n%s", logs.String())
	}
}

// lockedBuffer is a log sink safe for the source's goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// refusing refuses deletes of one key while block is set.
type refusing struct {
	recorder
	block   bool
	refused ir.Key
}

func (r *refusing) Apply(ch ir.Change) ir.Result {
	r.mu.Lock()
	block := r.block
	r.mu.Unlock()
	res := ir.Result{Rejected: map[ir.Key]error{}}
	var keep []ir.Key
	for _, k := range ch.Deletes {
		if block && k == r.refused {
			res.Rejected[k] = errors.New("still in use")
			continue
		}
		keep = append(keep, k)
	}
	ch.Deletes = keep
	r.recorder.Apply(ch)
	return res
}

// TestRefusedDeleteIsRetried: a delete the compile stage refused (the object
// was still in use) is sent again with later changes until it passes, so
// the node does not keep serving an object the store no longer has.
func TestRefusedDeleteIsRetried(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "pylon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	putRoute(t, st, "doomed")
	key := ir.Key{Kind: ir.KindRoute, Source: store.Source, Namespace: "default", Name: "doomed"}
	sink := &refusing{block: true, refused: key}
	src := New(st, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx, sink)
	<-src.Ready()
	if _, err := st.Commit(ctx, []store.Op{{Key: key}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused delete is seen", func() bool { return src.Revision() >= 2 })
	if !sink.has("doomed") {
		t.Fatal("the delete was not refused by the test sink")
	}
	sink.mu.Lock()
	sink.block = false
	sink.mu.Unlock()
	putRoute(t, st, "unrelated")
	eventually(t, "the delete is retried with the next change", func() bool { return !sink.has("doomed") })
}
