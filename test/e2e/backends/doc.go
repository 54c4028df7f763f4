// Package backends starts real upstream servers for Pylon's end-to-end
// tests: an HTTP echo server (HTTP/1.1, h2c, and TLS with HTTP/2), a
// WebSocket echo server and a gRPC server with unary and streaming methods.
// Each listens on 127.0.0.1:0 inside the test process and is closed in
// t.Cleanup.
package backends
