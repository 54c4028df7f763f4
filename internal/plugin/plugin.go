// Package plugin is Pylon's plugin platform: the registry plugins join at
// init(), the phases a request runs through, the one ordering table, the
// per-route chains the compile stage builds, and the store for state that
// must outlive config changes.
//
// A plugin never sees an engine's types. It works on Ctx, which the proxy
// implements for both engines (fasthttp for HTTP/1.1, net/http for HTTP/2)
// over their parsed buffers, and hooks into the phases it needs by
// implementing the matching interface:
//
//	request   RequestHandler   address restriction, redirects, CORS preflights, body size
//	access    AccessHandler    an external WAF, auth, limits, fault injection, then rewrite and request headers
//	upstream  UpstreamHandler  service selection (canary), breakers, mirroring
//	response  ResponseHandler  response header changes, the compression decision
//	body      BodyHandler      response body filters (compression)
//	log       LogHandler       what happened: breaker outcomes, releases, counts
//
// Within a phase, hooks run in the order of the ordering table (order.go).
// A request, access or upstream hook can answer the request itself with
// Ctx.Respond and return Stop; later hooks of those phases then do not run,
// while response hooks still see the answer and every log hook runs.
package plugin

import (
	"io"
	"time"
)

// Action says whether the request goes on after a hook.
type Action uint8

const (
	// Continue lets the request go on to the next hook.
	Continue Action = iota
	// Stop ends the request phases: the hook has answered with Ctx.Respond.
	Stop
)

// Slot is one plugin's state for one request, kept from one phase to the
// next (a concurrency limit releases in the log phase what it took in the
// access phase). It starts zeroed for every request. Storing a pointer in P
// does not allocate.
type Slot struct {
	N int64
	P any
}

// Ctx is the request as plugins see it. Byte slices it returns are valid
// only during the hook and must not be modified or kept.
type Ctx interface {
	Method() []byte
	// Host is the request's host as sent (it may carry a port).
	Host() []byte
	// Path is the normalized path the router matched, without the query.
	Path() []byte
	// RawQuery is the query string as sent, without '?'.
	RawQuery() []byte
	// RequestURI is the request target as the client sent it: path and
	// query, neither decoded nor normalized (what a WAF inspects).
	RequestURI() []byte
	// TLS reports whether the client connection is TLS.
	TLS() bool
	// Proto is "HTTP/1.1" or "HTTP/2.0".
	Proto() string
	// ClientIP is the connected peer's address.
	ClientIP() []byte
	RequestID() []byte
	Header(name string) ([]byte, bool)
	// VisitHeaders calls fn for every request header, in order.
	VisitHeaders(fn func(name, value []byte))
	// VisitClientHeaders calls fn for every request header as the client
	// sent it, before any plugin's change: empty values, duplicates and
	// hop-by-hop headers included, in the order received where the engine
	// keeps it (HTTP/1.1). It is for inspecting the request (a WAF).
	VisitClientHeaders(fn func(name, value []byte))
	// VisitUpstreamHeaders calls fn for every header the request will
	// carry upstream: the client's as the plugins left them, without
	// hop-by-hop ones, and the gateway's own (X-Forwarded-*, X-Request-Id,
	// the client certificate's) as the upstream will get them. It is for
	// copying the request (mirroring) before it is sent.
	VisitUpstreamHeaders(fn func(name, value []byte))
	Query(name string) ([]byte, bool)
	Cookie(name string) ([]byte, bool)
	// ContentLength is the declared body length, -1 when unknown (chunked
	// or a streamed HTTP/2 body).
	ContentLength() int64
	// Body returns the request body when the engine has buffered it
	// (HTTP/1.1); ok is false for a streamed body.
	Body() (body []byte, ok bool)
	// LimitBody bounds a streamed body (ok false from Body, length not
	// declared): once more than max bytes arrive, the request is answered
	// 413 with message (when nothing was sent yet), the upstream request is
	// cut off, and tripped (if not nil) is incremented. The smallest limit
	// set for a request wins. Buffered bodies are measured with Body.
	LimitBody(max int64, message []byte, tripped *Counter)
	// CaptureBody asks for a copy of a body the engine streams (ok false
	// from Body) as it goes upstream, up to max+1 bytes; the log phase
	// reads it with CapturedBody.
	CaptureBody(max int)
	// ReadBody returns the request body before it goes upstream, for a
	// plugin that must judge it first (a WAF, an authorization server that
	// sees the body). A buffered body (HTTP/1.1) is returned whole and not
	// copied; a streamed one (HTTP/2, HTTP/3) is read into memory up to
	// max+1 bytes, and the upstream then gets those bytes followed by the
	// rest. complete is false when the body is longer than what was read;
	// err is the client's read error (the request cannot go on).
	ReadBody(max int) (body []byte, complete bool, err error)
	// CapturedBody returns what CaptureBody kept (at most max+1 bytes: more
	// than max means the body was longer) and whether the body was read
	// to its end. Buffered bodies are read with Body instead.
	CapturedBody() (body []byte, complete bool)
	// Done is closed when the request no longer needs an answer: the
	// client went away (HTTP/2), or the gateway is shutting down. A hook
	// that waits selects on it.
	Done() <-chan struct{}

	// RouteName names the matched route.
	RouteName() string
	// Consumer names the client an auth plugin authenticated, "" before
	// (or without) one. It is the gateway's own record, not a header a
	// client could send.
	Consumer() string
	// SetConsumer records the authenticated client (auth plugins).
	SetConsumer(name string)
	// NoteSecurity adds a word to the request's "waf" access log field:
	// the rule ids a WAF matched, a bypass WAF's fail-open. Words are
	// joined with spaces; the gateway keeps a bounded number of bytes.
	NoteSecurity(word string)
	// SetTraceSampling sets the share (0-1) of this request's new traces
	// that are sampled, in place of the telemetry config's; off makes the
	// request untraced, its trace headers passed on as they came (the
	// tracing plugin). It has effect when tracing is on.
	SetTraceSampling(ratio float64, off bool)
	// Services lists the services the request may go to: the route's
	// backends and those its plugins declared (ServiceUser).
	Services() []string
	// Service returns the service chosen for the request, picking the
	// route's weighted default if no plugin chose one yet.
	Service() string
	// SetService sends the request to one of Services; false if it is
	// not one of them.
	SetService(name string) bool

	// SetHeader, AddHeader and DelHeader change the request going upstream.
	SetHeader(name, value string)
	AddHeader(name, value string)
	DelHeader(name string)
	// SetPath changes the path sent upstream (the query is kept).
	SetPath(path string)
	// SetQuery replaces the query sent upstream (without '?').
	SetQuery(query string)
	// SetUpstreamHost sets the Host header sent upstream.
	SetUpstreamHost(host string)

	// Respond answers the request from the gateway; the hook then returns
	// Stop. Headers can be added with SetResponseHeader.
	Respond(status int, body []byte)
	// Responded reports whether a plugin answered the request.
	Responded() bool

	// Status is the response status (upstream or local); 0 before one.
	Status() int
	// SetStatus changes the status sent to the client (response phase).
	SetStatus(status int)
	ResponseHeader(name string) ([]byte, bool)
	// VisitResponseHeaders calls fn for every response header (response
	// phase and later), in order.
	VisitResponseHeaders(fn func(name, value []byte))
	SetResponseHeader(name, value string)
	AddResponseHeader(name, value string)
	DelResponseHeader(name string)
}

// RequestHandler runs first, before access control: it shapes the request.
type RequestHandler interface {
	Request(c Ctx, s *Slot) Action
}

// AccessHandler decides whether the request may go on.
type AccessHandler interface {
	Access(c Ctx, s *Slot) Action
}

// UpstreamHandler runs once the request is allowed, before it is sent: it
// may choose the service (Ctx.SetService), refuse it (an open breaker), or
// copy it (mirroring).
type UpstreamHandler interface {
	Upstream(c Ctx, s *Slot) Action
}

// ResponseHandler sees the response status and headers before they are sent.
type ResponseHandler interface {
	Response(c Ctx, s *Slot)
}

// BodyHandler filters the response body. ResponseBody returns nil to leave
// the body alone, or a writer that receives the body and writes the result
// to w; Close writes whatever is left. If the writer has a Flush() error
// method, the proxy calls it after each chunk from the upstream so a stream
// stays a stream.
type BodyHandler interface {
	ResponseBody(c Ctx, s *Slot, w io.Writer) io.WriteCloser
}

// LogHandler runs after the response went out, for every plugin of the
// chain, whatever answered the request.
type LogHandler interface {
	Log(c Ctx, s *Slot, o *Outcome)
}

// Outcome is what a request came to.
type Outcome struct {
	Status         int // sent to the client
	UpstreamStatus int // 0 without an upstream response
	// Failure is "" or why no upstream response came: "connect",
	// "timeout", "reset", "no-endpoint".
	Failure  string
	Service  string
	Duration time.Duration
}

// ServiceUser is implemented by a plugin's config when the plugin sends
// requests to services of its own (a canary's other side, a mirror target):
// the compile stage checks that they exist, keeps them from being deleted
// while used, and offers them through Ctx.Services and Ctx.SetService.
type ServiceUser interface {
	Services() []string
}
