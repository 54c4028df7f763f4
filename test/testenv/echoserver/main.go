// Command echoserver is the echo backend of Pylon's end-to-end tests as a
// program of its own, for tests that must run a backend in another network
// namespace (Kubernetes EndpointSlices refuse loopback addresses).
//
//	echoserver -listen 10.213.0.2:8080 -name web [-delay 20ms]
//
// With -delay every answer waits that long first (a slow endpoint, for the
// load balancing benchmarks).
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"pylon.io/pylon/test/e2e/backends"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	name := flag.String("name", "echo", "name in the X-Backend header and the echo body")
	delay := flag.Duration("delay", 0, "wait this long before each answer")
	flag.Parse()
	h := backends.EchoHandler(*name)
	if *delay > 0 {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(*delay)
			next.ServeHTTP(w, r)
		})
	}
	log.Fatal(http.ListenAndServe(*listen, h))
}
