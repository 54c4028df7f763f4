// Package benchctx is a plugin.Ctx for the built-in plugins' benchmarks and
// allocation tests. plugintest.Ctx converts strings to byte slices on every
// call, which would hide a plugin's own allocations; this Ctx keeps headers
// in reused slices, so what a benchmark counts is the plugin's.
package benchctx

import (
	"bytes"
	"strings"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

// KV is one header.
type KV struct{ Name, Value []byte }

// Ctx answers the request accessors from byte slices and keeps response
// headers in a slice; everything else is plugintest's.
type Ctx struct {
	*plugintest.Ctx
	MethodB, HostB, PathB, QueryB, IPB []byte
	Req, Resp                          []KV
	SetPaths                           int
	respBase                           []KV
}

var _ plugin.Ctx = (*Ctx)(nil)

// New returns a GET request for path with the given request headers
// (name, value, name, value...).
func New(path string, headers ...string) *Ctx {
	c := &Ctx{Ctx: plugintest.New(), MethodB: []byte("GET"), HostB: []byte("example.com"),
		PathB: []byte(path), IPB: []byte("127.0.0.1")}
	for i := 0; i+1 < len(headers); i += 2 {
		c.Req = append(c.Req, KV{[]byte(headers[i]), []byte(headers[i+1])})
	}
	return c
}

// Response sets the response status and headers that Reset restores.
func (c *Ctx) Response(status int, headers ...string) {
	c.StatusV = status
	c.respBase = c.respBase[:0]
	for i := 0; i+1 < len(headers); i += 2 {
		c.respBase = append(c.respBase, KV{[]byte(headers[i]), []byte(headers[i+1])})
	}
	c.Reset()
}

// Reset restores the response headers set by Response and clears answers,
// reusing the slices.
func (c *Ctx) Reset() {
	c.Resp = c.Resp[:0]
	for _, kv := range c.respBase {
		c.AddResponseHeader(string(kv.Name), string(kv.Value))
	}
	c.Answered = false
}

func (c *Ctx) Method() []byte   { return c.MethodB }
func (c *Ctx) Host() []byte     { return c.HostB }
func (c *Ctx) Path() []byte     { return c.PathB }
func (c *Ctx) RawQuery() []byte { return c.QueryB }
func (c *Ctx) ClientIP() []byte { return c.IPB }
func (c *Ctx) SetPath(string)   { c.SetPaths++ }
func (c *Ctx) SetQuery(string)  {}

func (c *Ctx) SetUpstreamHost(string)   {}
func (c *Ctx) SetHeader(string, string) {}
func (c *Ctx) AddHeader(string, string) {}
func (c *Ctx) DelHeader(string)         {}

func (c *Ctx) Header(name string) ([]byte, bool) { return find(c.Req, name) }

func (c *Ctx) VisitHeaders(fn func(name, value []byte)) {
	for _, kv := range c.Req {
		fn(kv.Name, kv.Value)
	}
}

// VisitUpstreamHeaders is VisitHeaders: the fake prepares no upstream
// request.
func (c *Ctx) VisitUpstreamHeaders(fn func(name, value []byte)) { c.VisitHeaders(fn) }

// Respond records the status as the answer (the body is not kept).
func (c *Ctx) Respond(status int, body []byte) {
	c.StatusV, c.Answered = status, true
}

// ResponseHeader returns the first response header of that name.
func (c *Ctx) ResponseHeader(name string) ([]byte, bool) { return find(c.Resp, name) }

// SetResponseHeader replaces the header's value in place when it exists, so
// it does not allocate; a new header is appended.
func (c *Ctx) SetResponseHeader(name, value string) {
	for i := range c.Resp {
		if strings.EqualFold(string(c.Resp[i].Name), name) {
			c.Resp[i].Value = append(c.Resp[i].Value[:0], value...)
			return
		}
	}
	c.AddResponseHeader(name, value)
}

// AddResponseHeader appends a header, reusing a slot's buffers when the
// slice has room.
func (c *Ctx) AddResponseHeader(name, value string) {
	if len(c.Resp) < cap(c.Resp) {
		kv := &c.Resp[:len(c.Resp)+1][len(c.Resp)]
		kv.Name = append(kv.Name[:0], name...)
		kv.Value = append(kv.Value[:0], value...)
		c.Resp = c.Resp[:len(c.Resp)+1]
		return
	}
	c.Resp = append(c.Resp, KV{[]byte(name), []byte(value)})
}

// DelResponseHeader removes the headers of that name.
func (c *Ctx) DelResponseHeader(name string) {
	c.Resp = slicesDelete(c.Resp, name)
}

// slicesDelete removes name's headers, moving them past the end so every
// element keeps a buffer of its own for reuse.
func slicesDelete(kvs []KV, name string) []KV {
	for i := 0; i < len(kvs); {
		if !strings.EqualFold(string(kvs[i].Name), name) {
			i++
			continue
		}
		d := kvs[i]
		copy(kvs[i:], kvs[i+1:])
		kvs[len(kvs)-1] = d
		kvs = kvs[:len(kvs)-1]
	}
	return kvs
}

func find(kvs []KV, name string) ([]byte, bool) {
	for _, kv := range kvs {
		if bytes.EqualFold(kv.Name, []byte(name)) {
			return kv.Value, true
		}
	}
	return nil, false
}
