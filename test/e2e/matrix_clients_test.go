package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"pylon.io/pylon/test/e2e/backends"
)

// family groups the client kinds that ask and are answered the same way.
type family int

const (
	famHTTP family = iota // one request, one response
	famGRPC               // gRPC calls
	famWS                 // a WebSocket upgrade, then messages
)

// clientKind is one way a client talks to the gateway, on a listener of
// its own.
type clientKind struct {
	name     string
	family   family
	listener string // the listener's protocol
	tls, h2  bool   // TLS to the gateway; HTTP/2 to the gateway
	addr     string
	m        *matrix

	h2t *http2.Transport // h2, h2c and ws2
	cc  *grpc.ClientConn // grpc
}

func clientKinds() []*clientKind {
	return []*clientKind{
		{name: "h1", family: famHTTP, listener: "http"},
		{name: "h1tls", family: famHTTP, listener: "https", tls: true},
		{name: "h2", family: famHTTP, listener: "https", tls: true, h2: true},
		{name: "h2c", family: famHTTP, listener: "h2c", h2: true},
		{name: "grpc", family: famGRPC, listener: "h2c", h2: true},
		{name: "ws", family: famWS, listener: "http"},
		{name: "ws2", family: famWS, listener: "https", tls: true, h2: true},
	}
}

func (c *clientKind) tlsConfig(protos ...string) *tls.Config {
	return &tls.Config{ServerName: gwName, RootCAs: c.m.ca.Pool, NextProtos: protos}
}

// connect makes the client's long-lived parts: one HTTP/2 connection (or
// gRPC channel) that all of this kind's requests share.
func (c *clientKind) connect(t *testing.T, m *matrix) {
	t.Helper()
	c.m = m
	switch {
	case c.family == famGRPC:
		cc, err := grpc.NewClient("passthrough:///"+c.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		c.cc = cc
	case c.h2 && c.tls:
		c.h2t = &http2.Transport{TLSClientConfig: c.tlsConfig("h2"), DisableCompression: true,
			DialTLSContext: func(ctx context.Context, _, _ string, cfg *tls.Config) (net.Conn, error) {
				d := tls.Dialer{Config: cfg}
				return d.DialContext(ctx, "tcp", c.addr)
			}}
	case c.h2:
		c.h2t = &http2.Transport{AllowHTTP: true, DisableCompression: true,
			DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", c.addr)
			}}
	}
	if c.h2t != nil {
		t.Cleanup(c.h2t.CloseIdleConnections)
	}
}

// dialRaw opens a connection of its own to the gateway: TCP, and TLS
// offering only http/1.1 for the TLS kinds.
func (c *clientKind) dialRaw(ctx context.Context) (net.Conn, error) {
	if c.tls {
		d := tls.Dialer{Config: c.tlsConfig("http/1.1")}
		return d.DialContext(ctx, "tcp", c.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", c.addr)
}

// request is what a case asks for, whatever the client kind.
type request struct {
	method string // default GET
	host   string
	path   string      // the request target, sent exactly as written
	header [][2]string // in order; names as written for HTTP/1.1, lower-cased for HTTP/2
	body   []byte
	stream bool   // HTTP/2: send the body without a declared length
	grpc   string // gRPC: the command message (see backends.MatrixMethod)
}

func (r request) headerValue(name string) string {
	for _, h := range r.header {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// observed is what the client got.
type observed struct {
	status  int // the HTTP status; a completed WebSocket handshake is 200; 0 if the exchange broke
	code    codes.Code
	header  http.Header
	trailer http.Header
	body    string
	saw     *backends.Saw // what the upstream received, when a matrix backend answered
	err     error         // why the exchange broke
}

func (o observed) String() string {
	if o.err != nil {
		return "error: " + o.err.Error()
	}
	body := o.body
	if len(body) > 300 {
		body = body[:300] + "..."
	}
	return fmt.Sprintf("status %d (grpc %v) %q", o.status, o.code, body)
}

// send makes one exchange and reads all of it.
func (c *clientKind) send(t testing.TB, req request) observed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch c.family {
	case famGRPC:
		return c.call(ctx, req)
	case famWS:
		ws, o := c.dialWS(ctx, req)
		if ws == nil {
			return o
		}
		defer ws.close(1000)
		typ, msg, err := ws.read()
		if err != nil || typ != wsText {
			o.err = fmt.Errorf("no greeting after the upgrade: type %d, %v", typ, err)
			return o
		}
		o.body = string(msg)
		o.saw = parseSaw(msg)
		return o
	}
	resp, err := c.open(ctx, req)
	if err != nil {
		return observed{err: err}
	}
	return readHTTP(resp)
}

func readHTTP(resp *http.Response) observed {
	defer resp.Body.Close()
	o := observed{status: resp.StatusCode, header: resp.Header}
	b, err := io.ReadAll(resp.Body)
	o.body = string(b)
	if err != nil {
		o.err = fmt.Errorf("status %d, then the body broke: %w", resp.StatusCode, err)
	}
	o.trailer = resp.Trailer
	if resp.Header.Get("X-Backend") != "" {
		o.saw = parseSaw(b)
	}
	return o
}

func parseSaw(b []byte) *backends.Saw {
	var s backends.Saw
	if json.Unmarshal(b, &s) != nil || s.Backend == "" {
		return nil
	}
	return &s
}

// open sends an HTTP request and returns the response with its body still
// to read, for cases that time its arrival.
func (c *clientKind) open(ctx context.Context, req request) (*http.Response, error) {
	method := req.method
	if method == "" {
		method = http.MethodGet
	}
	if !c.h2 {
		return c.openH1(ctx, method, req)
	}
	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	hr := &http.Request{Method: method, URL: &url.URL{Scheme: scheme, Host: c.addr, Opaque: req.path},
		Host: req.host, Header: http.Header{}}
	for _, h := range req.header {
		hr.Header[h[0]] = append(hr.Header[h[0]], h[1])
	}
	switch {
	case req.stream:
		// Without a length the transport sends DATA frames as the body is
		// read, and no content-length.
		hr.Body = io.NopCloser(bytes.NewReader(req.body))
		hr.ContentLength = -1
	case req.body != nil:
		hr.Body = io.NopCloser(bytes.NewReader(req.body))
		hr.ContentLength = int64(len(req.body))
	}
	return c.h2t.RoundTrip(hr.WithContext(ctx))
}

// openH1 writes the request by hand on a connection of its own, so the
// request target and the headers go exactly as the case wrote them.
func (c *clientKind) openH1(ctx context.Context, method string, req request) (*http.Response, error) {
	conn, err := c.dialRaw(ctx)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, req.path, req.host)
	for _, h := range req.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	if req.body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(req.body))
	}
	b.WriteString("\r\n")
	b.Write(req.body)
	// The request is written while the answer is read, as curl does: a
	// server may answer (413) before it has read the whole body.
	written := make(chan error, 1)
	go func() {
		_, err := conn.Write(b.Bytes())
		written <- err
	}()
	// The connection is closed when the client gives up, as a browser
	// closes the tab.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		stop()
		conn.Close()
		if werr := <-written; werr != nil {
			return nil, fmt.Errorf("no response (%w) after the request write failed: %v", err, werr)
		}
		return nil, fmt.Errorf("no response: %w", err)
	}
	resp.Body = closeBoth{resp.Body, func() { stop(); conn.Close() }}
	return resp, nil
}

type closeBoth struct {
	io.ReadCloser
	also func()
}

func (c closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.also()
	return err
}

// statusInMessage finds the HTTP status in grpc-go's error for a response
// that was not gRPC ("unexpected HTTP status code received from server: 503").
var statusInMessage = regexp.MustCompile(`HTTP status code received from server: (\d+)`)

// call makes one unary gRPC call with req's headers as metadata.
func (c *clientKind) call(ctx context.Context, req request) observed {
	md := metadata.MD{}
	for _, h := range req.header {
		md.Append(strings.ToLower(h[0]), h[1])
	}
	ctx = metadata.NewOutgoingContext(ctx, md)
	var hdr, tr metadata.MD
	out := new(wrapperspb.StringValue)
	err := c.cc.Invoke(ctx, backends.MatrixMethod, wrapperspb.String(req.grpc), out,
		grpc.Header(&hdr), grpc.Trailer(&tr), grpc.CallAuthority(req.host))
	o := observed{status: http.StatusOK, code: status.Code(err), header: mdHeader(hdr), trailer: mdHeader(tr), body: out.GetValue()}
	if err != nil {
		o.status = 0
		o.body = err.Error()
		if m := statusInMessage.FindStringSubmatch(err.Error()); m != nil {
			o.status, _ = strconv.Atoi(m[1])
		}
		return o
	}
	o.saw = parseSaw([]byte(out.GetValue()))
	return o
}

func mdHeader(md metadata.MD) http.Header {
	h := http.Header{}
	for k, vv := range md {
		for _, v := range vv {
			h.Add(k, v)
		}
	}
	return h
}
