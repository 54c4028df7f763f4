package waf

import (
	"io"

	"github.com/corazawaf/coraza/v3/types"

	"pylon.io/pylon/internal/plugin"
)

// replaced discards an upstream body whose headers the rules refused (the
// status was changed in the response phase) and writes the refusal.
type replaced struct{ out io.Writer }

func (r *replaced) Write(p []byte) (int, error) { return len(p), nil }
func (r *replaced) Close() error {
	_, err := io.WriteString(r.out, "403 forbidden\n")
	return err
}

// respInspector holds the response body back while the engine inspects
// it, up to its limit. What the rules refuse is not sent: the headers have
// gone out by then, so the client gets the headers and a cut-off body
// (the connection ends early), and the access log names the rules.
type respInspector struct {
	w       *WAF
	c       plugin.Ctx
	s       *plugin.Slot
	tx      types.Transaction
	out     io.Writer
	held    []byte
	passed  bool // past the limit or judged: the rest streams
	refused bool
}

func (r *respInspector) Write(p []byte) (int, error) {
	switch {
	case r.refused:
		return len(p), nil
	case r.passed:
		return r.out.Write(p)
	}
	it, n, err := r.tx.WriteResponseBody(p)
	if err != nil {
		r.passed = true
		if err := r.flush(); err != nil {
			return 0, err
		}
		return r.out.Write(p)
	}
	if it != nil {
		r.w.note(r.c, r.s, r.tx)
		r.refuse()
		return len(p), nil
	}
	r.held = append(r.held, p...)
	if n < len(p) { // the engine's limit: judge what it has, stream the rest
		if r.judge() {
			return len(p), nil
		}
		return len(p), r.flush()
	}
	return len(p), nil
}

// judge runs the response-body phase; true if the rules refused it.
func (r *respInspector) judge() bool {
	r.passed = true
	it, err := r.tx.ProcessResponseBody()
	r.w.note(r.c, r.s, r.tx)
	if err == nil && it != nil {
		r.refuse()
		return true
	}
	return false
}

func (r *respInspector) refuse() {
	r.refused, r.held = true, nil
	r.w.blocked.Inc()
}

func (r *respInspector) flush() error {
	if len(r.held) == 0 {
		return nil
	}
	_, err := r.out.Write(r.held)
	r.held = nil
	return err
}

// Close judges a body that ended within the limit and sends it.
func (r *respInspector) Close() error {
	if r.refused {
		return errRefused
	}
	if !r.passed && r.judge() {
		return errRefused
	}
	return r.flush()
}

type refusedError struct{}

func (refusedError) Error() string { return "waf: response body refused" }

var errRefused error = refusedError{}
