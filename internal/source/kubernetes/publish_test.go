package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
	"pylon.io/pylon/internal/store/etcd"
	"pylon.io/pylon/internal/upstream"
	"pylon.io/pylon/test/testenv"
)

// judge is the local compile stage's verdict: it rejects the keys listed,
// and reports revive as let in (once).
type judge struct {
	reject map[string]bool
	revive []ir.Key
}

func (j *judge) Apply(ch ir.Change) ir.Result {
	res := ir.Result{Rejected: map[ir.Key]error{}, Revived: j.revive}
	j.revive = nil
	for _, o := range ch.Upserts {
		if j.reject[o.Key.Name] {
			res.Rejected[o.Key] = errors.New("rejected by the test")
		}
	}
	return res
}

type noPools struct{}

func (noPools) SetEndpoints(string, []upstream.EndpointConfig) error { return nil }

func openPublishStore(t *testing.T) *etcd.Store {
	t.Helper()
	e := testenv.StartEtcd(t, testenv.WithoutFsync())
	st, err := etcd.Open(context.Background(), []string{strings.TrimPrefix(e.Endpoint(), "http://")}, "/pylon/kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func stored(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kind := range ir.Kinds {
		recs, _, err := st.List(context.Background(), kind, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			out[string(kind)+":"+r.Key.Namespace+"/"+r.Key.Name] = string(r.Value)
		}
	}
	return out
}

func waitStored(t *testing.T, st store.Store, what string, ok func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := stored(t, st)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: store holds %d objects", what, len(m))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublisherWritesWhatIsAcceptedWhileLeading(t *testing.T) {
	st := openPublishStore(t)
	// Something a previous controller published and no Ingress has now.
	stale := ir.NewObject(SourceName, "shop", &ir.Service{Name: "ingress/shop/gone/app/80", Discovered: true})
	if err := commitOrdered(context.Background(), st, []store.Op{{Key: storeKey(stale.Key), Value: []byte(`{"name":"ingress/shop/gone/app/80","endpoints":null,"discovered":true}`)}}); err != nil {
		t.Fatal(err)
	}
	p := NewPublisher(st, &judge{reject: map[string]bool{"ingress/shop/bad": true}}, noPools{}, nil)

	svc := &ir.Service{Name: "ingress/shop/web/app/80", Discovered: true}
	ch := ir.Change{Upserts: []ir.Object{ir.NewObject(SourceName, "shop", svc)}}
	for i := range 300 { // more than one transaction holds
		r := &ir.Route{Name: fmt.Sprintf("ingress/shop/web/%d", i), Hosts: []string{fmt.Sprintf("h%d.example.com", i)}, Backends: []ir.Backend{{Service: svc.Name}}}
		ch.Upserts = append(ch.Upserts, ir.NewObject(SourceName, "shop", r))
	}
	ch.Upserts = append(ch.Upserts, ir.NewObject(SourceName, "shop", &ir.Route{Name: "ingress/shop/bad", Hosts: []string{"bad.example.com"}, Backends: []ir.Backend{{Service: svc.Name}}}))
	p.Apply(ch) // not leading yet: nothing is written
	if m := stored(t, st); len(m) != 1 {
		t.Fatalf("a follower wrote: %d objects", len(m))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.lead(ctx)
	m := waitStored(t, st, "leader's reconcile", func(m map[string]string) bool { return len(m) == 301 })
	if _, ok := m["route:shop/ingress/shop/bad"]; ok {
		t.Error("a route the local compile stage rejected was published")
	}
	if _, ok := m["service:shop/ingress/shop/gone/app/80"]; ok {
		t.Error("the stale service was not removed")
	}

	// Endpoints go out as a write of the service alone.
	if err := p.SetEndpoints(ir.Key{Kind: ir.KindService, Source: SourceName, Namespace: "shop", Name: svc.Name}.DisplayName(),
		[]upstream.EndpointConfig{{Address: "10.0.0.7:8080", Tags: []string{"gray"}, Zone: "zone-a", Node: "n1", ForZones: []string{"zone-a"}, ForNodes: []string{"n1"}}}); err != nil {
		t.Fatal(err)
	}
	// With their tags and where they run: each gateway node routes gray
	// traffic and decides by its own zone.
	waitStored(t, st, "endpoints published", func(m map[string]string) bool {
		return strings.Contains(m["service:shop/"+svc.Name], `{"address":"10.0.0.7:8080","tags":["gray"],"zone":"zone-a","node":"n1","forZones":["zone-a"],"forNodes":["n1"]}`)
	})
	// A delete while leading is written at once, routes before their service.
	var del ir.Change
	for i := range 300 {
		del.Deletes = append(del.Deletes, ir.Key{Kind: ir.KindRoute, Source: SourceName, Namespace: "shop", Name: fmt.Sprintf("ingress/shop/web/%d", i)})
	}
	del.Deletes = append(del.Deletes, ir.Key{Kind: ir.KindService, Source: SourceName, Namespace: "shop", Name: svc.Name})
	p.Apply(del)
	if m := stored(t, st); len(m) != 0 {
		t.Fatalf("after deleting everything the store holds %d objects", len(m))
	}
}

// TestPublisherPublishesWhatIsLetInLater: a route the local compile stage
// rejected for want of another object is published once a later change
// lets it in, and the watcher hears of it (for the Ingress's address).
func TestPublisherPublishesWhatIsLetInLater(t *testing.T) {
	st := openPublishStore(t)
	j := &judge{reject: map[string]bool{"ingress/shop/waits": true}}
	p := NewPublisher(st, j, noPools{}, nil)
	var heard []ir.Key
	p.OnRevived(func(keys []ir.Key) { heard = append(heard, keys...) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.lead(ctx)

	svc := &ir.Service{Name: "ingress/shop/web/app/80", Discovered: true}
	waits := ir.NewObject(SourceName, "shop", &ir.Route{Name: "ingress/shop/waits", Hosts: []string{"w.example.com"}, Backends: []ir.Backend{{Service: svc.Name}}})
	p.Apply(ir.Change{Upserts: []ir.Object{waits}})
	j.reject, j.revive = nil, []ir.Key{waits.Key}
	p.Apply(ir.Change{Upserts: []ir.Object{ir.NewObject(SourceName, "shop", svc)}})
	waitStored(t, st, "the route let in later", func(m map[string]string) bool {
		_, ok := m["route:shop/ingress/shop/waits"]
		return ok && len(m) == 2
	})
	if len(heard) != 1 || heard[0] != waits.Key {
		t.Errorf("the watcher heard of %v, want %v", heard, waits.Key)
	}
}

func TestCommitOrderedPutsServicesFirstAndDeletesRoutesFirst(t *testing.T) {
	ops := []store.Op{
		{Key: ir.Key{Kind: ir.KindService, Namespace: "a", Name: "s-del"}},
		{Key: ir.Key{Kind: ir.KindRoute, Namespace: "a", Name: "r-put"}, Value: []byte("{}")},
		{Key: ir.Key{Kind: ir.KindRoute, Namespace: "a", Name: "r-del"}},
		{Key: ir.Key{Kind: ir.KindService, Namespace: "a", Name: "s-put"}, Value: []byte("{}")},
	}
	var got []string
	rec := recordingStore{commit: func(ops []store.Op) {
		for _, op := range ops {
			got = append(got, op.Key.Name)
		}
	}}
	if err := commitOrdered(context.Background(), rec, ops); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "s-put r-put r-del s-del" {
		t.Fatalf("order %v", got)
	}
}

// recordingStore records commits; the other methods are not used.
type recordingStore struct {
	store.Store
	commit func([]store.Op)
}

func (r recordingStore) Commit(_ context.Context, ops []store.Op) (int64, error) {
	r.commit(ops)
	return 1, nil
}
