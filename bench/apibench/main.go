// Command apibench drives Pylon's admin API for the benchmarks in
// docs/benchmarks.md: bulk loading routes in batches until every node
// serves them, the time for one change written on one node to serve on
// another, and admin API writes per second. It talks only to the addresses
// it is given (127.0.0.1 in the benchmark scripts).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	mode     = flag.String("mode", "bulk", "bulk | propagate | writes")
	admin    = flag.String("admin", "127.0.0.1:9180", "admin API of the node written to")
	proxies  = flag.String("proxies", "", "comma-separated proxy addresses of every node (bulk, propagate)")
	key      = flag.String("key", os.Getenv("PYLON_ADMIN_KEY"), "admin API key")
	service  = flag.String("service", "backend", "service the routes forward to")
	routes   = flag.Int("routes", 100000, "bulk: routes to create")
	batch    = flag.Int("batch", 1000, "bulk: routes per batch")
	changes  = flag.Int("changes", 200, "propagate: changes to time")
	writes   = flag.Int("writes", 2000, "writes: PUTs to send")
	workers  = flag.Int("workers", 1, "writes: concurrent writers")
	deadline = flag.Duration("timeout", 10*time.Minute, "give up after this long")
)

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func main() {
	flag.Parse()
	start := time.Now()
	go func() { time.Sleep(*deadline); log.Fatalf("timed out after %v", *deadline) }()
	switch *mode {
	case "bulk":
		bulk(start)
	case "propagate":
		propagate()
	case "writes":
		writeRate()
	default:
		log.Fatalf("unknown mode %q", *mode)
	}
}

func route(name, host, prefix string) map[string]any {
	return map[string]any{"name": name, "hosts": []string{host}, "match": map[string]any{"path": map[string]any{"prefix": prefix}},
		"backends": []map[string]any{{"service": *service}}}
}

func call(method, url string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+*key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		log.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// serves reports whether host/path answers 200 through proxy.
func serves(proxy, host, path string) bool {
	req, _ := http.NewRequest("GET", "http://"+proxy+path, nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

func bulk(start time.Time) {
	for i := 0; i < *routes; i += *batch {
		var ups []map[string]any
		for j := i; j < i+*batch && j < *routes; j++ {
			ups = append(ups, map[string]any{"kind": "route", "object": route(fmt.Sprintf("b%06d", j), fmt.Sprintf("b%06d.bulk.local", j), "/")})
		}
		if code, b := call("POST", "http://"+*admin+"/api/v1/batch", map[string]any{"upserts": ups}); code >= 300 {
			log.Fatalf("batch at %d: %d %s", i, code, b)
		}
	}
	written := time.Since(start)
	last := fmt.Sprintf("b%06d.bulk.local", *routes-1)
	var wg sync.WaitGroup
	for _, p := range strings.Split(*proxies, ",") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !serves(p, last, "/0") {
				time.Sleep(10 * time.Millisecond)
			}
			fmt.Printf("node %s: all %d routes serving after %.2f s\n", p, *routes, time.Since(start).Seconds())
		}()
	}
	wg.Wait()
	fmt.Printf("written in %.2f s (%d batches of %d); all nodes serving after %.2f s\n", written.Seconds(), (*routes+*batch-1) / *batch, *batch, time.Since(start).Seconds())
}

func propagate() {
	nodes := strings.Split(*proxies, ",")
	var took []time.Duration
	for i := 0; i < *changes; i++ {
		path := fmt.Sprintf("/v%d/", i)
		start := time.Now()
		if code, b := call("PUT", "http://"+*admin+"/api/v1/routes/propagating", route("propagating", "propagating.bench.local", path)); code >= 300 {
			log.Fatalf("PUT: %d %s", code, b)
		}
		for _, n := range nodes { // every node, the written one included
			for !serves(n, "propagating.bench.local", path+"0") {
				time.Sleep(200 * time.Microsecond)
			}
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	pct := func(p int) float64 { return float64(took[(len(took)*p+99)/100-1].Microseconds()) / 1000 }
	fmt.Printf("write on one node → serving on all %d nodes, %d changes: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		len(nodes), len(took), pct(50), pct(99), float64(took[len(took)-1].Microseconds())/1000)
}

func writeRate() {
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > int64(*writes) {
					return
				}
				name := fmt.Sprintf("w%d", i%1000)
				if code, b := call("PUT", "http://"+*admin+"/api/v1/routes/"+name, route(name, name+".writes.local", fmt.Sprintf("/%d/", i))); code >= 300 {
					log.Fatalf("PUT: %d %s", code, b)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%d PUTs with %d writer(s) in %.2f s: %.0f writes/s\n", *writes, *workers, el.Seconds(), float64(*writes)/el.Seconds())
}
