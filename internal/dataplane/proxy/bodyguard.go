package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"pylon.io/pylon/internal/plugin"
)

// bodyLimit is what plugins asked of a streamed body (Ctx.LimitBody,
// Ctx.CaptureBody).
type bodyLimit struct {
	max     int64
	message []byte
	tripped *plugin.Counter
	capture int // bytes to copy (Ctx.CaptureBody); 0: none
}

// bodyGuard carries a streamed HTTP/2 request body (no declared length) on
// its way upstream. Limits are http.MaxBytesReader's (the listener's
// maxBodyBytes, and a plugin's, whichever is smaller, trips first); the
// guard notes when one cut the body off, so the client is answered 413
// rather than 502. It is allocated per such request, not kept in the
// pooled context: a transport may read or close a request body after
// RoundTrip has returned.
type bodyGuard struct {
	rc   io.ReadCloser
	lim  bodyLimit
	over atomic.Bool

	// The copy a plugin asked for: the transport reads the body on its own
	// goroutine, the log phase reads the copy on the handler's.
	mu   sync.Mutex
	copy []byte
	eof  bool
}

// guardBody wraps r's body when its length is not declared, or when a
// plugin wants a copy of it, and returns the guard (nil otherwise).
func guardBody(w http.ResponseWriter, r *http.Request, lim bodyLimit) *bodyGuard {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || (r.ContentLength > 0 && lim.capture == 0) {
		return nil
	}
	if r.ContentLength > 0 {
		lim.max = 0 // a declared length was judged before
	}
	body := r.Body
	if lim.max > 0 {
		body = http.MaxBytesReader(w, body, lim.max)
	}
	g := &bodyGuard{rc: body, lim: lim}
	r.Body = g
	return g
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	k, err := g.rc.Read(p)
	if g.lim.capture > 0 {
		g.mu.Lock()
		if room := g.lim.capture - len(g.copy); room > 0 {
			g.copy = append(g.copy, p[:min(k, room)]...)
		}
		g.eof = g.eof || err == io.EOF
		g.mu.Unlock()
	}
	if mbe := (*http.MaxBytesError)(nil); err != nil && errors.As(err, &mbe) && !g.over.Load() {
		// Written before over is set: tooLarge reads them once it is.
		if mbe.Limit == g.lim.max {
			if g.lim.tripped != nil {
				g.lim.tripped.Inc()
			}
		} else {
			g.lim.message = nil // the listener's limit: the default answer
		}
		g.over.Store(true)
	}
	return k, err
}

func (g *bodyGuard) Close() error { return g.rc.Close() }

// captured returns the copy and whether the body was read to its end.
func (g *bodyGuard) captured() ([]byte, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.copy, g.eof
}

// tooLarge reports whether a limit cut the body off, and the answer's body.
func (g *bodyGuard) tooLarge() ([]byte, bool) {
	if g == nil || !g.over.Load() {
		return nil, false
	}
	if len(g.lim.message) > 0 {
		return g.lim.message, true
	}
	return []byte("413 request body too large\n"), true
}
