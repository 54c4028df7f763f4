// Package proxy is Pylon's request path: it turns a request from either engine
// (fasthttp for HTTP/1.1, net/http for HTTP/2 and h2c) into Pylon's own
// request context, routes it, and forwards it to an upstream pool, answers a
// redirect, or answers directly.
//
// Nothing here reads configuration under a lock: the router's tables and each
// compiled Route are immutable and replaced whole by the compile stage.
package proxy
