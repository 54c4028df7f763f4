// Package extconnect turns on HTTP/2 extended CONNECT (RFC 8441) in the
// standard library's HTTP/2 server, for WebSockets over HTTP/2.
//
// Go 1.26 offers it only behind GODEBUG=http2xconnect=1, read from the
// environment once, when net/http initialises. This package sets it before
// that: it imports nothing that imports net/http, and the language
// initialises packages in import-path order among those whose imports are
// ready (Go spec, "Package initialization"), so it runs before the
// vendored golang.org/x/net packages that net/http waits for. A GODEBUG
// the operator set keeps its own http2xconnect value.
package extconnect

import (
	"os"
	"strings"
)

// Enabled reports whether extended CONNECT was on when net/http started.
var Enabled = enable()

func enable() bool {
	v := os.Getenv("GODEBUG")
	if strings.Contains(v, "http2xconnect=") {
		return strings.Contains(v, "http2xconnect=1")
	}
	if v != "" {
		v += ","
	}
	_ = os.Setenv("GODEBUG", v+"http2xconnect=1")
	return true
}
