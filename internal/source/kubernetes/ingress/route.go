package ingress

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/annotations"
)

// note sets the status and message of every note whose annotation name
// (without prefix) starts with name.
func (t *translator) note(name string, st annotations.Status, why string) {
	for i := range t.notes {
		n := &t.notes[i]
		bare := strings.TrimPrefix(strings.TrimPrefix(n.Annotation, annotations.PylonPrefix), annotations.NginxPrefix)
		if strings.HasPrefix(bare, name) && n.Status != annotations.Rejected {
			n.Status, n.Message = st, why
		}
	}
}

// redirectTo turns a parsed redirect URL into an IR redirect. nginx's
// "return 301 URL" sends exactly the URL, so an empty path becomes "/"
// rather than the request's path.
func redirectTo(raw string, code int) *ir.Redirect {
	u, _ := url.Parse(raw) // validated by the annotation parser
	rd := &ir.Redirect{Scheme: u.Scheme, Host: u.Hostname(), Path: u.Path, Code: code}
	if rd.Path == "" {
		rd.Path = "/"
	}
	if p := u.Port(); p != "" {
		rd.Port, _ = strconv.Atoi(p)
	}
	return rd
}

// nginxTries is ingress-nginx's default proxy-next-upstream-tries.
const nginxTries = 3

// retries maps the proxy-next-upstream family and the read timeout onto the
// route's retries and request timeout. Without any of them the route keeps
// Pylon's defaults.
func (t *translator) retries(r *ir.Route) {
	c := t.cfg
	rt := c.Retry
	if r.Redirect != nil || (!rt.Set && rt.Tries == 0 && rt.Timeout == 0 && c.ReadTimeout == 0) {
		return
	}
	ret := &ir.Retries{Attempts: nginxTries, PerTryTimeout: ir.Duration(c.ReadTimeout), NonIdempotent: rt.NonIdempotent}
	if rt.Tries > 0 {
		ret.Attempts = rt.Tries
	}
	if rt.Off {
		ret.Attempts = 1
	}
	ret.On = rt.Statuses
	r.Retries = ret
	switch {
	case rt.Timeout > 0:
		r.Timeouts.Request = ir.Duration(rt.Timeout)
	case c.ReadTimeout > 0:
		// Pylon bounds the whole request (60s by default); a longer read
		// timeout must not be cut short by it.
		total := time.Duration(ret.Attempts) * (c.ReadTimeout + connectOrDefault(c.ConnectTimeout))
		if total > 60*time.Second {
			r.Timeouts.Request = ir.Duration(total)
		}
	}
}

func connectOrDefault(d time.Duration) time.Duration {
	if d == 0 {
		return 5 * time.Second
	}
	return d
}
