package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// rollAddr is endpoint i of generation gen: 10.214.0.0/21 for generation
// 0, 10.214.8.0/21 for generation 1, all on the backend's namespace.
func rollAddr(gen, i int) string { return fmt.Sprintf("10.214.%d.%d", gen*8+i/250, i%250+1) }

// TestRollingUpdate2000: a Service of ENDPOINTS (2000) endpoints in
// EndpointSlices of 100, behind one Ingress of pylon --kubernetes, under
// LOAD_RPS (2000) requests a second of bounded load. A rolling update
// replaces every endpoint at the pace of one over ROLL_SECONDS (60), as the
// EndpointSlice controller writes it: per endpoint, one slice write adds the
// new endpoint ready and marks the old one terminating, a second removes
// the old one. The update runs in CHUNKS (4) parts, each between two steady
// phases (2 × STEADY_SECONDS (30) of steady state in all), so that the
// machine's drift over minutes falls on both alike. Reports pylon's CPU
// (utime+stime) per second and per request over the update's phases and
// over the steady ones, every phase's CPU in order, failed requests, and
// p50/p99. With PROXY_CPU set, pylon runs on that CPU alone with
// GOMAXPROCS=1 (bench/rolling.sh runs the test itself on the other).
func TestRollingUpdate2000(t *testing.T) {
	if os.Getenv("PYLON_BENCH_KUBE") != "1" {
		t.Skip("benchmark: run bench/rolling.sh (PYLON_BENCH_KUBE=1)")
	}
	n := envInt("ENDPOINTS", 2000)
	loadRPS := envInt("LOAD_RPS", 2000)
	steady := time.Duration(envInt("STEADY_SECONDS", 30)) * time.Second
	roll := time.Duration(envInt("ROLL_SECONDS", 60)) * time.Second
	const perSlice = 100
	ctx := context.Background()
	report := func(format string, args ...any) { fmt.Printf("RESULT "+format+"\n", args...) }

	kube := testenv.StartKube(t)
	netns := testenv.StartNetns(t)
	// Every endpoint address of both generations is on the namespace's
	// loopback, where one echo backend answers them all; the host reaches
	// them through the namespace's veth.
	var batch strings.Builder
	for gen := range 2 {
		for i := range n {
			fmt.Fprintf(&batch, "addr add %s/32 dev lo\n", rollAddr(gen, i))
		}
	}
	batchFile := filepath.Join(t.TempDir(), "addrs")
	if err := os.WriteFile(batchFile, []byte(batch.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-n", netns.Name, "-batch", batchFile}, {"route", "add", "10.214.0.0/20", "via", netns.IP}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "route", "del", "10.214.0.0/20").Run() })
	echo := netns.Start(t, testenv.BuildProgram(t, "./test/testenv/echoserver"), "-listen", "0.0.0.0:8080", "-name", "roll")
	echo.WaitTCP(t, rollAddr(0, n-1)+":8080")

	c := kube.Client
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "roll"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes, no, port := true, false, int32(8080)
	ready := discoveryv1.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no}
	leaving := discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}
	slices := make([]*discoveryv1.EndpointSlice, (n+perSlice-1)/perSlice)
	for s := range slices {
		sl := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("roll-%02d", s), Labels: map[string]string{discoveryv1.LabelServiceName: "roll"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port}},
		}
		for i := s * perSlice; i < min(n, (s+1)*perSlice); i++ {
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{rollAddr(0, i)}, Conditions: ready})
		}
		created, err := c.DiscoveryV1().EndpointSlices(ns).Create(ctx, sl, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slices[s] = created
	}
	pt := networkingv1.PathTypePrefix
	if _, err := c.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "roll", Namespace: ns},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr("pylon"), Rules: []networkingv1.IngressRule{{Host: "roll.kube.bench",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "roll", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	gw := startPylonOn(t, kube, os.Getenv("PROXY_CPU"))
	for gw.get("roll.kube.bench") != 200 {
		if gw.proc.Exited() {
			t.Fatalf("pylon exited: %s", gw.proc.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Bounded load: LOAD_RPS requests a second from 16 workers; each
	// phase's latencies and failures are kept apart.
	type phase struct {
		stats  string // pylon's heap and goroutines at the phase's end
		mu     sync.Mutex
		lat    []time.Duration
		failed int
		first  string
	}
	var cur atomic.Pointer[phase]
	cur.Store(&phase{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 16
	for range workers {
		wg.Go(func() {
			tick := time.NewTicker(workers * time.Second / time.Duration(loadRPS))
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				t0 := time.Now()
				code := gw.get("roll.kube.bench")
				d := time.Since(t0)
				p := cur.Load()
				p.mu.Lock()
				p.lat = append(p.lat, d)
				if code != 200 {
					p.failed++
					if p.first == "" {
						p.first = fmt.Sprint("status ", code)
					}
				}
				p.mu.Unlock()
			}
		})
	}
	time.Sleep(5 * time.Second) // warm: connections to the endpoints open

	// measure runs f as one phase and returns pylon's CPU and the phase.
	// PROFILE_DIR=DIR saves pylon's CPU profile of each phase there
	// (steady-before.prof, rolling.prof, steady-after.prof), for
	// `go tool pprof -diff_base`.
	profile := func(name string, d time.Duration) func() {
		dir := os.Getenv("PROFILE_DIR")
		if dir == "" {
			return func() {}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", gw.ops, int(d.Seconds())))
			if err != nil {
				t.Errorf("cpu profile: %v", err)
				return
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := os.WriteFile(filepath.Join(dir, name+".prof"), data, 0o644); err != nil {
				t.Error(err)
			}
		}()
		return func() { <-done }
	}
	// measure runs f as one phase, recording its requests into p, and
	// returns pylon's CPU over it and how long it took.
	measure := func(name string, d time.Duration, p *phase, f func()) (time.Duration, time.Duration) {
		cur.Store(p)
		wait := profile(name, d)
		defer wait()
		c0, t0 := cpuTime(t, gw.proc.Pid()), time.Now()
		f()
		c1, el := cpuTime(t, gw.proc.Pid()), time.Since(t0)
		cur.Store(&phase{})
		p.stats = gw.runtimeStats(t)
		return c1 - c0, el
	}

	// The rolling update: endpoint i moves to generation 1 at step i, one
	// step every roll/n.
	var writes atomic.Int64
	write := func(s int) {
		sl, err := c.DiscoveryV1().EndpointSlices(ns).Update(ctx, slices[s], metav1.UpdateOptions{})
		if err != nil {
			t.Errorf("slice %d: %v", s, err)
			return
		}
		slices[s] = sl
		writes.Add(1)
	}
	move := func(from, to int, d time.Duration) {
		step := d / time.Duration(to-from)
		start := time.Now()
		for i := from; i < to; i++ {
			s, j := i/perSlice, i%perSlice
			k := i - from
			// The new endpoint ready, the old one terminating...
			sl := slices[s]
			sl.Endpoints[j].Conditions = leaving
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{rollAddr(1, i)}, Conditions: ready})
			write(s)
			time.Sleep(time.Until(start.Add(time.Duration(2*k+1) * step / 2)))
			// ...then gone: the new endpoint takes its place in the list.
			sl = slices[s]
			last := len(sl.Endpoints) - 1
			sl.Endpoints[j] = sl.Endpoints[last]
			sl.Endpoints = sl.Endpoints[:last]
			write(s)
			time.Sleep(time.Until(start.Add(time.Duration(k+1) * step)))
		}
	}

	// Steady and update phases alternate, CHUNKS (4) update phases of
	// n/CHUNKS endpoints each (the update's pace is that of the whole
	// update over ROLL_SECONDS) between CHUNKS+1 steady phases: this
	// machine's CPU time per request drifts by up to 20% over minutes, and
	// phases side by side see the same drift.
	chunks := envInt("CHUNKS", 4)
	steadyEach, rollEach := steady/time.Duration(chunks+1)*2, roll/time.Duration(chunks)
	steadyPh, rollPh := &phase{}, &phase{}
	var steadyCPU, steadyEl, rollCPU, rollEl time.Duration
	var perPhase []string
	for k := 0; ; k++ {
		c, el := measure(fmt.Sprintf("steady-%d", k+1), steadyEach, steadyPh, func() { time.Sleep(steadyEach) })
		steadyCPU, steadyEl = steadyCPU+c, steadyEl+el
		perPhase = append(perPhase, fmt.Sprintf("steady %.0f", float64(c)/float64(el)*1000))
		if k == chunks {
			break
		}
		c, el = measure(fmt.Sprintf("rolling-%d", k+1), rollEach, rollPh, func() { move(k*n/chunks, (k+1)*n/chunks, rollEach) })
		rollCPU, rollEl = rollCPU+c, rollEl+el
		perPhase = append(perPhase, fmt.Sprintf("update %.0f", float64(c)/float64(el)*1000))
	}
	close(stop)
	wg.Wait()
	if gw.proc.Exited() {
		t.Fatalf("pylon exited: %s", gw.proc.Log())
	}

	line := func(name string, cpu, el time.Duration, p *phase) float64 {
		name += " (at the last one's end: " + p.stats + ")"
		perSec := float64(cpu) / float64(el) * 1000 // ms of CPU per second
		report("%s: %.1f s, %d requests (%d failed%s), pylon CPU %.1f ms/s, %.1f µs/request, p50 %.2f ms, p99 %.2f ms",
			name, el.Seconds(), len(p.lat), p.failed, map[bool]string{true: ", first: " + p.first, false: ""}[p.failed > 0],
			perSec, float64(cpu)/float64(len(p.lat))/1e3, ms(pct(p.lat, 50)), ms(pct(p.lat, 99)))
		if p.failed > 0 {
			t.Errorf("%s: %d requests failed", name, p.failed)
		}
		return perSec
	}
	s := line(fmt.Sprintf("steady state (%d phases)", chunks+1), steadyCPU, steadyEl, steadyPh)
	r := line(fmt.Sprintf("rolling update (%d phases: %d endpoints replaced, %d slice writes)", chunks, n, writes.Load()), rollCPU, rollEl, rollPh)
	report("pylon CPU per phase, in order (ms/s): %s", strings.Join(perPhase, ", "))
	report("rolling update CPU over steady state: %+.1f%% (%+.1f ms/s; %d endpoints, %d requests/s, proxy CPU %s, load average %s)",
		(r/s-1)*100, r-s, n, loadRPS, cpuLabel(os.Getenv("PROXY_CPU")), loadAvg())
}

// startPylonOn is startPylon with pylon pinned to cpu (when set) with
// GOMAXPROCS=1, as the benchmarks measure proxies.
func startPylonOn(t *testing.T, kube *testenv.Kube, cpu string) *pylon {
	t.Helper()
	p, bin, cfg := newPylon(t)
	args := []string{"run", "--config", cfg, "--kubernetes", "--kubeconfig", kube.Kubeconfig,
		"--publish-address", "192.0.2.10", "--metrics-address", p.ops, "--admin-address", "off",
		"--data-dir", t.TempDir(), "--access-log=false", "--log-level", "warn"}
	start := time.Now()
	if cpu != "" {
		p.proc = testenv.Start(t, "taskset", append([]string{"-c", cpu, "env", "GOMAXPROCS=1", bin}, args...)...)
	} else {
		p.proc = testenv.Start(t, bin, args...)
	}
	p.waitReady(t, start, p.proc)
	return p
}

// cpuTime is utime+stime of process pid (fields 14 and 15 of
// /proc/PID/stat, counted after the command name, which may hold spaces).
func cpuTime(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ is 100 on Linux
}

func cpuLabel(cpu string) string {
	if cpu == "" {
		return "unpinned"
	}
	return "pinned to CPU " + cpu + ", GOMAXPROCS=1"
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// runtimeStats reads pylon's heap in use and goroutines from its /metrics.
func (p *pylon) runtimeStats(t *testing.T) string {
	resp, err := http.Get("http://" + p.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var heap, gs float64
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "go_memstats_heap_inuse_bytes "); ok {
			heap, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(l, "go_goroutines "); ok {
			gs, _ = strconv.ParseFloat(v, 64)
		}
	}
	return fmt.Sprintf("heap %.0f MiB, %.0f goroutines", heap/(1<<20), gs)
}
