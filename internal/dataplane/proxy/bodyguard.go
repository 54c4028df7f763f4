package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"pylon.io/pylon/internal/plugin"
)

// errBodyTooLarge is a streamed request body going past a plugin's limit.
var errBodyTooLarge = errors.New("request body too large")

// bodyLimit is what plugins asked of a streamed body (Ctx.LimitBody).
type bodyLimit struct {
	max     int64
	message []byte
	tripped *plugin.Counter
}

// bodyGuard carries a streamed HTTP/2 request body (no declared length) on
// its way upstream. It enforces a plugin's limit and notes when a limit
// (the plugin's, or the listener's maxBodyBytes through
// http.MaxBytesReader) cut the body off, so the client is answered 413
// rather than 502. It is allocated per such request, not kept in the
// pooled context: a transport may read or close a request body after
// RoundTrip has returned.
type bodyGuard struct {
	rc   io.ReadCloser
	n    int64
	lim  bodyLimit
	over atomic.Bool
}

// guardBody wraps r's body when its length is not declared and returns the
// guard (nil when the body has a length or there is none).
func guardBody(r *http.Request, lim bodyLimit) *bodyGuard {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength >= 0 {
		return nil
	}
	g := &bodyGuard{rc: r.Body, lim: lim}
	r.Body = g
	return g
}

func (g *bodyGuard) Read(p []byte) (int, error) {
	if g.over.Load() {
		return 0, errBodyTooLarge
	}
	max := g.lim.max
	if max > 0 && int64(len(p)) > max-g.n+1 {
		p = p[:max-g.n+1] // one byte past the limit is enough to know
	}
	k, err := g.rc.Read(p)
	g.n += int64(k)
	if max > 0 && g.n > max {
		g.over.Store(true)
		if g.lim.tripped != nil {
			g.lim.tripped.Inc()
		}
		return k - int(g.n-max), errBodyTooLarge
	}
	if mbe := (*http.MaxBytesError)(nil); err != nil && errors.As(err, &mbe) {
		g.lim.message = nil // the listener's limit: the default answer
		g.over.Store(true)
	}
	return k, err
}

func (g *bodyGuard) Close() error { return g.rc.Close() }

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
