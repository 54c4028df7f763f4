// Package kube is the Kubernetes scale benchmark (bench/kube.sh runs it):
// Ingresses created in a real kube-apiserver, served by pylon --kubernetes.
// It is a Go test so that it reuses the test helpers that start etcd,
// kube-apiserver and the network namespace for backends; it skips unless
// PYLON_BENCH_KUBE=1.
package kube

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"pylon.io/pylon/test/testenv"
)

const (
	ns       = "bench"
	services = 100 // Ingress i uses Service i % services
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestKubeScale: INGRESSES (20000) Ingresses, the first TLS (20000) of them
// with a TLS Secret each; SAMPLES (100) single-Ingress creations timed to
// their first 200; CHURN_RATE (50) Ingress updates a second for
// CHURN_SECONDS (60) under LOAD_RPS (500) requests a second.
func TestKubeScale(t *testing.T) {
	if os.Getenv("PYLON_BENCH_KUBE") != "1" {
		t.Skip("benchmark: run bench/kube.sh (PYLON_BENCH_KUBE=1)")
	}
	n := envInt("INGRESSES", 20000)
	nTLS := min(envInt("TLS", 20000), n)
	samples := envInt("SAMPLES", 100)
	churnRate := envInt("CHURN_RATE", 50)
	churnSecs := envInt("CHURN_SECONDS", 60)
	loadRPS := envInt("LOAD_RPS", 500)
	ctx := context.Background()
	report := func(format string, args ...any) { fmt.Printf("RESULT "+format+"\n", args...) }

	kube := testenv.StartKube(t)
	netns := testenv.StartNetns(t)
	netns.StartEcho(t, "bench", 8080)
	c := kube.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Objects: Services without selectors and their EndpointSlices, TLS
	// Secrets, Ingresses; created by parallel clients (not measured).
	start := time.Now()
	parallel(t, services, 16, func(i int) error {
		name := fmt.Sprintf("svc%03d", i)
		_, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		ready, port := true, int32(8080)
		_, err = c.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{netns.IP}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port}},
		}, metav1.CreateOptions{})
		return err
	})
	ca := newCA(t)
	parallel(t, nTLS, 32, func(i int) error {
		crt, key := ca.leaf(t, host(i))
		_, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tls%06d", i)},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}, metav1.CreateOptions{})
		return err
	})
	parallel(t, n, 32, func(i int) error {
		_, err := c.NetworkingV1().Ingresses(ns).Create(ctx, ingress(i, i%services, i < nTLS), metav1.CreateOptions{})
		return err
	})
	report("created %d Ingresses (%d with TLS Secrets), %d Services in %.1f s", n, nTLS, services, time.Since(start).Seconds())

	// Pylon: time from process start to every host serving.
	var gw *pylon
	if os.Getenv("SPLIT") == "1" {
		// The split deployment: requests go to a gateway node that reads
		// what the controller published to etcd.
		node, ctl := startSplit(t, kube)
		gw = node
		// The node is ready once it applied what the store held when it
		// started (nothing, in a fresh fleet): what counts is when every
		// Ingress the controller published is live on it.
		start := time.Now().Add(-gw.readyAfter)
		for gw.liveRoutes(t) < n {
			if time.Since(start) > 30*time.Minute {
				t.Fatalf("node serves %d of %d routes after 30 minutes", gw.liveRoutes(t), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		live := time.Since(start)
		liveRSS := rssMiB(gw.proc.Pid(), "VmRSS")
		all := waitAll(t, gw, n, nTLS, ca)
		report("split: controller and node started together; all %d routes live on the node by %.2f s (node RSS then %d MiB); every host verified serving on the node by %.2f s; controller RSS %d MiB (peak %d MiB), node RSS %d MiB (peak %d MiB)",
			n, live.Seconds(), liveRSS, all.Seconds(), rssMiB(ctl.Pid(), "VmRSS"), rssMiB(ctl.Pid(), "VmHWM"), rssMiB(gw.proc.Pid(), "VmRSS"), rssMiB(gw.proc.Pid(), "VmHWM"))
	} else {
		gw = startPylon(t, kube)
		all := waitAll(t, gw, n, nTLS, ca)
		report("controller start to ready (every Ingress applied): %.2f s; RSS then %d MiB (peak %d MiB); all %d hosts verified serving by %.2f s",
			gw.readyAfter.Seconds(), gw.readyRSS, rssMiB(gw.proc.Pid(), "VmHWM"), n, all.Seconds())
	}

	// HEAP_PROFILE=FILE saves the pylon's heap profile once every host
	// serves, for `go tool pprof`.
	if out := os.Getenv("HEAP_PROFILE"); out != "" {
		resp, err := gw.client.Get("http://" + gw.ops + "/debug/pprof/heap?gc=1")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// One more Ingress at a time: apiserver write to the first 200.
	var lat, comp []time.Duration
	for s := 0; s < samples; s++ {
		i := n + s
		t0 := time.Now()
		if _, err := c.NetworkingV1().Ingresses(ns).Create(ctx, ingress(i, i%services, false), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for gw.get(host(i)) != 200 {
			if time.Since(t0) > 30*time.Second {
				t.Fatalf("ingress %d not serving after 30 s", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(t0))
		comp = append(comp, gw.lastCompile(t))
	}
	report("new Ingress, apiserver write to first 200 (%d samples): p50 %.1f ms, p99 %.1f ms, max %.1f ms; compile+publish p50 %.3f ms, p99 %.3f ms",
		samples, ms(pct(lat, 50)), ms(pct(lat, 99)), ms(pct(lat, 100)), ms(pct(comp, 50)), ms(pct(comp, 99)))

	// Churn under load: CHURN_RATE updates/s (backend switched between two
	// Services) while a bounded load generator requests the hosts.
	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	workers := 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tick := time.NewTicker(time.Duration(workers) * time.Second / time.Duration(loadRPS))
			defer tick.Stop()
			k := w
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				// Plain-HTTP hosts (past the TLS ones), the churned ones first.
				i := nTLS + k%(n-nTLS+samples)
				if nTLS >= n {
					i = n + k%samples
				}
				k += workers
				if code := gw.get(host(i)); code == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %d", host(i), code))
				}
			}
		}(w)
	}
	changes := 0
	churnFrom := nTLS
	if nTLS >= n {
		churnFrom = n // the sampled Ingresses: plain HTTP
	}
	churnSpan := max(n-churnFrom, samples)
	// Updates are sent by a few workers so a slow apiserver answer does not
	// lower the rate; a tick with every worker busy is counted as missed.
	updates := make(chan [2]int, churnRate)
	var uwg sync.WaitGroup
	var updErr atomic.Value
	var missed int
	for u := 0; u < 8; u++ {
		uwg.Add(1)
		go func() {
			defer uwg.Done()
			for up := range updates {
				// An unconditional update (no resourceVersion), as kubectl replace.
				if _, err := c.NetworkingV1().Ingresses(ns).Update(ctx, ingress(up[0], up[1], false), metav1.UpdateOptions{}); err != nil {
					updErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(churnRate))
	end := time.Now().Add(time.Duration(churnSecs) * time.Second)
	for time.Now().Before(end) {
		<-tick.C
		i := churnFrom + changes%min(churnSpan, 1000)
		svc := (i + 1 + changes/min(churnSpan, 1000)) % services
		select {
		case updates <- [2]int{i, svc}:
			changes++
		default:
			missed++
		}
	}
	close(updates)
	uwg.Wait()
	if v := updErr.Load(); v != nil {
		t.Fatalf("churn update: %v", v)
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	msg := ""
	if v := firstErr.Load(); v != nil {
		msg = " (first: " + v.(string) + ")"
	}
	report("churn: %d Ingress updates in %d s (%d ticks missed) under %d requests/s: %d requests ok, %d failed%s; RSS %d MiB",
		changes, churnSecs, missed, loadRPS, ok.Load(), failed.Load(), msg, rssMiB(gw.proc.Pid(), "VmRSS"))
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during churn", failed.Load())
	}
}

func host(i int) string { return fmt.Sprintf("h%06d.kube.bench", i) }

func ingress(i, svc int, tls bool) *networkingv1.Ingress {
	pt := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ing%06d", i), Namespace: ns},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr("pylon"),
			Rules: []networkingv1.IngressRule{{Host: host(i), IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: fmt.Sprintf("svc%03d", svc), Port: networkingv1.ServiceBackendPort{Number: 80}}}}},
			}}}},
		},
	}
	if tls {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host(i)}, SecretName: fmt.Sprintf("tls%06d", i)}}
	}
	return ing
}

// parallel runs f(0..n-1) on workers goroutines and fails on the first error.
func parallel(t *testing.T, n, workers int, f func(int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("item %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	idx := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, idx-1))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func rssMiB(pid int, field string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return kb / 1024
		}
	}
	return 0
}

func ptr[T any](v T) *T { return &v }
