package listener

import (
	"net"

	// WebSockets over HTTP/2 (RFC 8441) need extended CONNECT on before
	// net/http starts.
	_ "pylon.io/pylon/internal/dataplane/listener/extconnect"
)

// Refusal is a request the listener answered itself, before any handler saw
// it: a malformed request, or one over a limit (header or body size). Every
// answer the gateway gives is logged and counted, these too.
type Refusal struct {
	Listener string // the listener's name
	Proto    string // "HTTP/1.1", "HTTP/2.0"
	Method   string // empty when the request line could not be read
	Host     string
	Path     string
	Remote   net.Addr
	Status   int
	Reason   string // why, for the log: "header too large", "invalid header name"
}

// refused tells h.Refused, when set, of a request the listener answered.
func (h *Handlers) refused(r Refusal) {
	if h.Refused != nil {
		h.Refused(r)
	}
}

// refused tells the handlers of a request l answered itself.
func (l *Listener) refused(r Refusal) {
	r.Listener = l.cfg.Name
	l.h.refused(r)
}
