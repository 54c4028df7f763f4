package eureka

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/eureka/eurekatest"
	"pylon.io/pylon/internal/ir"
)

func do(t *testing.T, method, u string, body any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d", method, u, resp.StatusCode)
	}
}

func registerInst(t *testing.T, s *eurekatest.Server, id, ip string, port int, meta map[string]string) {
	do(t, "POST", s.URL()+"/apps/ORDERS", map[string]any{"instance": map[string]any{
		"instanceId": id, "hostName": id, "app": "ORDERS", "ipAddr": ip, "status": "UP",
		"port": map[string]any{"$": port, "@enabled": "true"}, "securePort": map[string]any{"$": 443, "@enabled": "false"},
		"metadata":       meta,
		"dataCenterInfo": map[string]any{"@class": "com.netflix.appinfo.AmazonInfo", "name": "Amazon", "metadata": map[string]string{"availability-zone": "us-east-1a"}},
	}})
}

func waitSet(t *testing.T, sets chan discovery.Set, want ...string) discovery.Set {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-sets:
			var got []string
			for _, in := range s.Instances {
				got = append(got, in.Address)
			}
			if strings.Join(got, ",") == strings.Join(want, ",") {
				return s
			}
		case <-deadline:
			t.Fatalf("no set %v within 10s", want)
		}
	}
}

func TestWatch(t *testing.T) {
	s, err := eurekatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	p, err := New(Config{Servers: []string{s.URL()}, PollInterval: ir.Duration(50 * time.Millisecond)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	sets := make(chan discovery.Set, 64)
	done := make(chan error, 1)
	go func() { done <- p.Watch(ctx, discovery.Query{App: "orders"}, func(s discovery.Set) { sets <- s }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Watch = %v", err)
		}
	})
	waitSet(t, sets)

	registerInst(t, s, "a", "127.0.0.2", 8080, map[string]string{"tags": "gray"})
	set := waitSet(t, sets, "127.0.0.2:8080")
	if in := set.Instances[0]; !in.Healthy || in.Zone != "us-east-1a" || len(in.Tags) != 1 || in.Tags[0] != "gray" {
		t.Fatalf("instance = %+v", in)
	}
	registerInst(t, s, "b", "127.0.0.3", 8080, map[string]string{"zone": "z2"})
	set = waitSet(t, sets, "127.0.0.2:8080", "127.0.0.3:8080")
	if set.Instances[1].Zone != "z2" {
		t.Fatalf("zone = %q", set.Instances[1].Zone)
	}
	do(t, "PUT", s.URL()+"/apps/ORDERS/b", nil) // heartbeat
	do(t, "PUT", s.URL()+"/apps/ORDERS/b/status?value=OUT_OF_SERVICE", nil)
	deadline := time.After(10 * time.Second)
	for {
		set = <-sets
		if len(set.Instances) == 2 && !set.Instances[1].Healthy {
			break
		}
		select {
		case <-deadline:
			t.Fatal("OUT_OF_SERVICE not seen")
		default:
		}
	}

	// Deregister all: an empty set is delivered.
	do(t, "DELETE", s.URL()+"/apps/ORDERS/a", nil)
	do(t, "DELETE", s.URL()+"/apps/ORDERS/b", nil)
	waitSet(t, sets)

	// Unreachable, then back with a change made meanwhile.
	registerInst(t, s, "c", "127.0.0.4", 8080, nil)
	waitSet(t, sets, "127.0.0.4:8080")
	s.Stop()
	time.Sleep(200 * time.Millisecond)
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	registerInst(t, s, "d", "127.0.0.5", 8080, nil)
	waitSet(t, sets, "127.0.0.4:8080", "127.0.0.5:8080")

	// Restarted empty: the delta's hashcode disagrees, a full fetch follows.
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	waitSet(t, sets)
	registerInst(t, s, "e", "127.0.0.6", 8080, nil)
	waitSet(t, sets, "127.0.0.6:8080")
	got, err := p.Resolve(context.Background(), discovery.Query{App: "orders"})
	if err != nil || len(got.Instances) != 1 || got.Instances[0].Address != "127.0.0.6:8080" {
		t.Fatalf("Resolve = %+v, %v", got, err)
	}
}

func TestValidate(t *testing.T) {
	err := Config{Servers: []string{"eureka:8761"}, PollInterval: -1}.Validate("discovery[1].eureka")
	for _, want := range []string{"discovery[1].eureka.servers[0]", "discovery[1].eureka.pollInterval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %s", err, want)
		}
	}
	if err := checkQuery(discovery.Query{App: "a", Group: "g"}); err == nil {
		t.Error("query with a Nacos field accepted")
	}
}

func TestDecodeSingleObjectAndBadUTF8(t *testing.T) {
	body := []byte("{\"applications\":{\"apps__hashcode\":\"UP_1_\",\"application\":{\"name\":\"X\",\"instance\":{\"instanceId\":\"i\",\"ipAddr\":\"10.0.0.1\",\"status\":\"UP\",\"port\":{\"$\":80,\"@enabled\":\"true\"},\"metadata\":{\"ok\":\"1\",\"bad\":\"\xff\"}}}}}")
	reg, hash, err := decodeApps(body)
	if err != nil || hash != "UP_1_" || hashcode(reg) != "UP_1_" {
		t.Fatalf("decode = %v %q %v", reg, hash, err)
	}
	set, dropped := toSet(reg, "x", false, "tags")
	if dropped != 1 || len(set.Instances) != 1 || len(set.Instances[0].Metadata) != 1 {
		t.Fatalf("set = %+v dropped %d", set, dropped)
	}
}

func TestCloseEndsWatch(t *testing.T) {
	s, err := eurekatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	p, err := New(Config{Servers: []string{s.URL()}, PollInterval: ir.Duration(50 * time.Millisecond)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Watch(context.Background(), discovery.Query{App: "orders"}, func(discovery.Set) {}) }()
	time.Sleep(100 * time.Millisecond)
	p.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Watch ended by Close returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the watch")
	}
}
