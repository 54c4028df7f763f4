// Command echoserver is the echo backend of Pylon's end-to-end tests as a
// program of its own, for tests that must run a backend in another network
// namespace (Kubernetes EndpointSlices refuse loopback addresses).
//
//	echoserver -listen 10.213.0.2:8080 -name web
package main

import (
	"flag"
	"log"
	"net/http"

	"pylon.io/pylon/test/e2e/backends"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	name := flag.String("name", "echo", "name in the X-Backend header and the echo body")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*listen, backends.EchoHandler(*name)))
}
