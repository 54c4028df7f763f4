package proxy

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/upstream"
)

// sender is one upstream engine: HTTP/1.1 (fasthttp's client) or HTTP/2
// and h2c (x/net's transport). It holds the prepared request and the
// answers of its tries. Both live in the pooled Ctx.
type sender interface {
	// prepare builds the upstream request from the client's; a non-zero
	// status refuses the request (a body over a limit).
	prepare(c *Ctx) (status int, msg string)
	// send makes one try to e, bounded by deadline and the route's
	// per-try timeout, and returns the upstream's status or an error.
	send(c *Ctx, e *upstream.Endpoint, deadline time.Time) (status int, err error)
	// replayable reports whether the request can be sent again: its body
	// is buffered, or there is none.
	replayable() bool
	// keep sets the current answer aside, as the client's answer should
	// every later try fail without one; an earlier kept answer is dropped.
	keep()
	// restore makes the kept answer current; false if there is none.
	restore() bool
	// release frees what the sender holds when nothing is relayed.
	release()
	// setHeader sets a header on the prepared request, for the next try
	// (a sampled request's trace parent is the try's span).
	setHeader(name string, value []byte)
}

// Failure kinds of one try, beyond the upstream's own (telemetry's).
const failClient = "client" // the client went away: its outcome, never the upstream's

// forward sends the prepared request, retrying per the route's policy and
// the service's retry budget. It reports whether s holds an answer to
// relay (the last real upstream answer); otherwise o says what failed.
func (p *Proxy) forward(c *Ctx, o *outcome, s sender) bool {
	route, b := c.route, c.backend
	deadline := c.start.Add(route.timeout())
	budget := b.Pool.Budget()
	budget.Begin()
	defer budget.End()
	kept, retrying := false, false
	// A retry counts against the budget until its try is over.
	defer func() {
		if retrying {
			budget.RetryDone()
		}
	}()
	// The upstream time is the access log's alone: with the log off (or
	// off for the route) no try reads the clock for it.
	timed := p.access != nil && p.access.Enabled() && !route.LogOff
	var prev *upstream.Endpoint
	for try := 1; ; try++ {
		e := b.Pool.Pick(c, prev)
		if e == nil {
			o.failure = "no-endpoint"
			o.status, o.message = 503, "no healthy upstream"
			break
		}
		o.endpoint = e
		traceTry(c, s, e.Address())
		var sent time.Time
		if timed {
			sent = time.Now()
		}
		status, err := s.send(c, e, deadline)
		if timed {
			o.upTime = time.Since(sent)
		}
		if retrying {
			budget.RetryDone()
			retrying = false
		}
		if err == nil && c.clientGone() {
			// The client left while the upstream answered (an engine that
			// cannot cancel the try, such as HTTP/1.1 toward an HTTP/2
			// client): the answer goes nowhere.
			err = errClientGone
		}
		var kind telemetry.UpstreamErrorKind
		failure := ""
		if err != nil {
			if _, over := c.guard.tooLarge(); over || c.clientGone() {
				// A cancellation by the client, or its body cut off by a
				// limit, says nothing of the endpoint: no health report, no
				// error count, no retry.
				failure = failClient
			} else {
				kind = classify(err)
				failure = failureName(kind)
				e.ReportFailure()
				b.Errors.Error(kind)
			}
		} else if status == 502 || status == 503 || status == 504 {
			e.ReportFailure()
		} else {
			e.ReportSuccess()
		}
		o.addTry(e, status, failure)
		c.trace.EndTry(status, failure)
		if err == nil {
			o.upStatus, o.status, o.failure = status, status, ""
			kept = false
		} else {
			o.failure = failure
			o.status, o.message = errorStatus(kind), errorText(kind)
			if failure == failClient {
				o.status, o.message = statusClientClosed, "client closed request"
			}
		}
		if !p.retry(c, try, err, kind, failure, status, s.replayable(), deadline) {
			break
		}
		if !budget.Retry() {
			break
		}
		retrying = true
		if err == nil {
			s.keep()
			kept = true
		}
		prev = e
	}
	if o.failure != "" && kept && s.restore() {
		// The client gets the last real answer, not a later try's error.
		o.status, o.failure = o.upStatus, ""
	}
	return o.failure == ""
}

// retry is the one retry decision. A connect error always retries (nothing
// was sent); a reset, a per-try timeout or a listed status retry for
// idempotent requests whose body can be sent again; nothing retries once
// the request's deadline passed, the attempts are used up, or the client
// left.
func (p *Proxy) retry(c *Ctx, try int, err error, kind telemetry.UpstreamErrorKind, failure string, status int, replayable bool, deadline time.Time) bool {
	route := c.route
	if err == nil && !route.Retry.RetryOnStatus(status) {
		return false // an answer the route takes: the common case, decided first
	}
	if try >= route.Retry.Attempts || failure == failClient || !time.Now().Before(deadline) {
		return false
	}
	if err != nil && kind == telemetry.UpstreamConnect {
		return true
	}
	if !replayable || !(route.Retry.NonIdempotent || idempotentMethod(c.method)) {
		return false
	}
	if err != nil {
		perTry := kind == telemetry.UpstreamTimeout && route.Retry.PerTryTimeout > 0 && errors.Is(err, errPerTry)
		return kind == telemetry.UpstreamReset || perTry
	}
	return route.Retry.RetryOnStatus(status)
}

// statusClientClosed is nginx's 499: the client closed the request before
// the answer.
const statusClientClosed = 499

// errClientGone is a try whose client left before its answer.
var errClientGone = errors.New("client closed request")

// errPerTry marks a try cut by the route's per-try timeout.
var errPerTry = errors.New("per-try timeout")

// perTryDeadline is the earlier of the request's deadline and the try's.
func perTryDeadline(route *Route, deadline time.Time) (time.Time, bool) {
	if pt := route.Retry.PerTryTimeout; pt > 0 {
		if d := time.Now().Add(pt); d.Before(deadline) {
			return d, true
		}
	}
	return deadline, false
}

func (r *Route) timeout() time.Duration {
	if r.RequestTimeout > 0 {
		return r.RequestTimeout
	}
	return defaultRequestTimeout
}

// classify maps an upstream error to connect (nothing was sent: always safe
// to retry), timeout, or reset (the request may have reached the upstream).
func classify(err error) telemetry.UpstreamErrorKind {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errPerTry):
		return telemetry.UpstreamTimeout
	case errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, fasthttp.ErrNoFreeConns):
		return telemetry.UpstreamConnect
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return telemetry.UpstreamConnect
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return telemetry.UpstreamTimeout
	}
	return telemetry.UpstreamReset
}

func errorStatus(k telemetry.UpstreamErrorKind) int {
	if k == telemetry.UpstreamTimeout {
		return fasthttp.StatusGatewayTimeout
	}
	return fasthttp.StatusBadGateway
}

// failureName is the plugins' name for an upstream failure.
func failureName(k telemetry.UpstreamErrorKind) string {
	switch k {
	case telemetry.UpstreamConnect:
		return "connect"
	case telemetry.UpstreamTimeout:
		return "timeout"
	}
	return "reset"
}

func errorText(k telemetry.UpstreamErrorKind) string {
	switch k {
	case telemetry.UpstreamConnect:
		return "upstream connect error"
	case telemetry.UpstreamTimeout:
		return "upstream timeout"
	}
	return "upstream connection error"
}

func idempotentMethod(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}
