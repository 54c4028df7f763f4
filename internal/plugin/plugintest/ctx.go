// Package plugintest provides a plain in-memory plugin.Ctx for plugins' unit
// tests and benchmarks. End-to-end behaviour is tested through the real proxy.
package plugintest

import (
	"net/http"
	"strings"

	"pylon.io/pylon/internal/plugin"
)

// Ctx is an in-memory request and response. Fill the exported fields; the
// plugin.Ctx methods read and change them.
type Ctx struct {
	MethodV, HostV, PathV, QueryV, ClientIPV, RequestIDV string
	ProtoV                                               string
	// RawURI is what RequestURI returns ("": PathV and QueryV).
	RawURI       string
	TLSV         bool
	ReqHeader    http.Header
	BodyV        []byte
	BodyBuffered bool
	Length       int64
	Route        string
	ConsumerV    string
	// Security is what NoteSecurity was told, one entry per word.
	Security []string
	// ReadErr is the error ReadBody returns.
	ReadErr error
	// TraceRatio and TraceOff are what SetTraceSampling was told.
	TraceRatio   float64
	TraceOff     bool
	ServiceList  []string
	Chosen       string
	UpstreamHost string

	// BodyLimit and BodyLimitMessage are what LimitBody was last told.
	BodyLimit        int64
	BodyLimitMessage []byte
	// CaptureMax is what CaptureBody asked for; CapturedBody then returns
	// BodyV (cut to CaptureMax+1) and CaptureComplete.
	CaptureMax      int
	CaptureComplete bool
	// DoneV is what Done returns (nil: never done).
	DoneV      chan struct{}
	StatusV    int
	RespHeader http.Header
	RespBody   []byte
	Answered   bool
}

var _ plugin.Ctx = (*Ctx)(nil)

// New returns a GET / request from 127.0.0.1 to example.com.
func New() *Ctx {
	return &Ctx{MethodV: "GET", HostV: "example.com", PathV: "/", ClientIPV: "127.0.0.1", RequestIDV: "test",
		ProtoV: "HTTP/1.1", ReqHeader: http.Header{}, RespHeader: http.Header{}, Length: -1, Route: "route"}
}

func (c *Ctx) Method() []byte   { return []byte(c.MethodV) }
func (c *Ctx) Host() []byte     { return []byte(c.HostV) }
func (c *Ctx) Path() []byte     { return []byte(c.PathV) }
func (c *Ctx) RawQuery() []byte { return []byte(c.QueryV) }

// RequestURI is RawURI when set, else the path and query.
func (c *Ctx) RequestURI() []byte {
	switch {
	case c.RawURI != "":
		return []byte(c.RawURI)
	case c.QueryV != "":
		return []byte(c.PathV + "?" + c.QueryV)
	}
	return []byte(c.PathV)
}

// VisitResponseHeaders calls fn for every header of RespHeader.
func (c *Ctx) VisitResponseHeaders(fn func(name, value []byte)) {
	for k, vs := range c.RespHeader {
		for _, v := range vs {
			fn([]byte(k), []byte(v))
		}
	}
}
func (c *Ctx) TLS() bool         { return c.TLSV }
func (c *Ctx) Proto() string     { return c.ProtoV }
func (c *Ctx) ClientIP() []byte  { return []byte(c.ClientIPV) }
func (c *Ctx) RequestID() []byte { return []byte(c.RequestIDV) }

func (c *Ctx) Header(name string) ([]byte, bool) {
	v, ok := c.ReqHeader[http.CanonicalHeaderKey(name)]
	if !ok || len(v) == 0 {
		return nil, false
	}
	return []byte(v[0]), true
}

func (c *Ctx) VisitHeaders(fn func(name, value []byte)) {
	for k, vs := range c.ReqHeader {
		for _, v := range vs {
			fn([]byte(k), []byte(v))
		}
	}
}

// VisitClientHeaders is VisitHeaders: the fake keeps one set of headers.
func (c *Ctx) VisitClientHeaders(fn func(name, value []byte)) { c.VisitHeaders(fn) }

// VisitUpstreamHeaders is VisitHeaders: the fake prepares no upstream
// request.
func (c *Ctx) VisitUpstreamHeaders(fn func(name, value []byte)) { c.VisitHeaders(fn) }

func (c *Ctx) Query(name string) ([]byte, bool) {
	for _, kv := range strings.Split(c.QueryV, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return []byte(v), true
		}
	}
	return nil, false
}

func (c *Ctx) Cookie(name string) ([]byte, bool) {
	r := http.Request{Header: c.ReqHeader}
	ck, err := r.Cookie(name)
	if err != nil {
		return nil, false
	}
	return []byte(ck.Value), true
}

func (c *Ctx) ContentLength() int64  { return c.Length }
func (c *Ctx) Body() ([]byte, bool)  { return c.BodyV, c.BodyBuffered }
func (c *Ctx) CaptureBody(max int)   { c.CaptureMax = max }
func (c *Ctx) NoteSecurity(w string) { c.Security = append(c.Security, w) }

// ReadBody returns BodyV whole when it is buffered, cut to max+1 bytes
// otherwise.
func (c *Ctx) ReadBody(max int) ([]byte, bool, error) {
	if c.BodyBuffered || len(c.BodyV) <= max {
		return c.BodyV, true, c.ReadErr
	}
	return c.BodyV[:max+1], false, c.ReadErr
}
func (c *Ctx) Done() <-chan struct{} { return c.DoneV }
func (c *Ctx) CapturedBody() ([]byte, bool) {
	if c.CaptureMax == 0 {
		return nil, false
	}
	return c.BodyV[:min(len(c.BodyV), c.CaptureMax+1)], c.CaptureComplete
}
func (c *Ctx) LimitBody(max int64, message []byte, _ *plugin.Counter) {
	if c.BodyLimit == 0 || max < c.BodyLimit {
		c.BodyLimit, c.BodyLimitMessage = max, message
	}
}
func (c *Ctx) RouteName() string    { return c.Route }
func (c *Ctx) Consumer() string     { return c.ConsumerV }
func (c *Ctx) SetConsumer(n string) { c.ConsumerV = n }
func (c *Ctx) SetTraceSampling(ratio float64, off bool) {
	c.TraceRatio, c.TraceOff = ratio, off
}
func (c *Ctx) Services() []string       { return c.ServiceList }
func (c *Ctx) SetHeader(n, v string)    { c.ReqHeader.Set(n, v) }
func (c *Ctx) AddHeader(n, v string)    { c.ReqHeader.Add(n, v) }
func (c *Ctx) DelHeader(n string)       { c.ReqHeader.Del(n) }
func (c *Ctx) SetPath(p string)         { c.PathV = p }
func (c *Ctx) SetQuery(q string)        { c.QueryV = q }
func (c *Ctx) SetUpstreamHost(h string) { c.UpstreamHost = h }

func (c *Ctx) Service() string {
	if c.Chosen == "" && len(c.ServiceList) > 0 {
		c.Chosen = c.ServiceList[0]
	}
	return c.Chosen
}

func (c *Ctx) SetService(name string) bool {
	for _, s := range c.ServiceList {
		if s == name {
			c.Chosen = name
			return true
		}
	}
	return false
}

func (c *Ctx) Respond(status int, body []byte) {
	c.StatusV, c.RespBody, c.Answered = status, body, true
}

func (c *Ctx) Responded() bool               { return c.Answered }
func (c *Ctx) Status() int                   { return c.StatusV }
func (c *Ctx) SetStatus(s int)               { c.StatusV = s }
func (c *Ctx) SetResponseHeader(n, v string) { c.RespHeader.Set(n, v) }
func (c *Ctx) AddResponseHeader(n, v string) { c.RespHeader.Add(n, v) }
func (c *Ctx) DelResponseHeader(n string)    { c.RespHeader.Del(n) }

func (c *Ctx) ResponseHeader(name string) ([]byte, bool) {
	v, ok := c.RespHeader[http.CanonicalHeaderKey(name)]
	if !ok || len(v) == 0 {
		return nil, false
	}
	return []byte(v[0]), true
}
