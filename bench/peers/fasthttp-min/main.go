// Command fasthttp-min is the smallest possible fasthttp reverse proxy: no
// routing, no metrics, no header rewriting. The benchmarks run it beside
// Pylon to show how much of Pylon's throughput the engine itself sets.
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve")
	upstream := flag.String("upstream", "127.0.0.1:9001", "backend address")
	flag.Parse()
	hc := &fasthttp.HostClient{Addr: *upstream, MaxConns: 1024}
	log.Fatal(fasthttp.ListenAndServe(*listen, func(ctx *fasthttp.RequestCtx) {
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
		}
	}))
}
