package upstream

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
)

// transportKey is everything that decides how connections are made. When it is
// unchanged across an Update the pool keeps its clients and their connections;
// when it changes, connections made under the old settings must not be reused.
type transportKey struct {
	protocol       Protocol
	connectTimeout time.Duration
	sendTimeout    time.Duration
	maxConns       int
	maxIdle        time.Duration
	tls            bool
	serverName     string
	insecure       bool
	ca, cert, key  [32]byte
}

// transport is one generation of a pool's connection settings, shared by its
// endpoints. It is immutable once built.
type transport struct {
	key    transportKey
	dialer net.Dialer
	// tls1 is the TLS config for HTTP/1.1 and raw dials (ALPN http/1.1), nil
	// for cleartext. tls2 is the same with ALPN h2, for HTTP2 pools.
	tls1, tls2 *tls.Config
	h2         *http2.Transport // nil for HTTP1 pools
}

func keyOf(cfg *Config) transportKey {
	k := transportKey{
		protocol:       cfg.Protocol,
		connectTimeout: cfg.ConnectTimeout,
		sendTimeout:    cfg.SendTimeout,
		maxConns:       cfg.MaxConnsPerEndpoint,
		maxIdle:        cfg.MaxIdleConnDuration,
		tls:            cfg.TLS != nil || cfg.Protocol == HTTP2,
	}
	if t := cfg.TLS; t != nil {
		k.serverName, k.insecure = t.ServerName, t.InsecureSkipVerify
		k.ca, k.cert, k.key = sha256.Sum256(t.CAPEM), sha256.Sum256(t.CertPEM), sha256.Sum256(t.KeyPEM)
	}
	return k
}

func newTransport(cfg *Config) (*transport, error) {
	t := &transport{key: keyOf(cfg), dialer: net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}}
	if t.key.tls {
		base, err := buildTLS(cfg)
		if err != nil {
			return nil, err
		}
		t.tls1 = base.Clone()
		t.tls1.NextProtos = []string{"http/1.1"}
		t.tls2 = base.Clone()
		t.tls2.NextProtos = []string{http2.NextProtoTLS}
	}
	if cfg.Protocol == HTTP2 || cfg.Protocol == H2C {
		t.h2 = &http2.Transport{
			TLSClientConfig: t.tls2,
			AllowHTTP:       cfg.Protocol == H2C,
			DialTLSContext:  t.dialH2,
			// A proxy forwards Content-Encoding as it is; transparent gzip would
			// change the bytes the client gets.
			DisableCompression: true,
			IdleConnTimeout:    cfg.MaxIdleConnDuration,
			// Pings find connections that died silently (a NAT forgot them)
			// before a request is lost on one.
			ReadIdleTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
			// A connection that accepts no bytes for this long is closed
			// (nginx's proxy_send_timeout: between two writes).
			WriteByteTimeout: cfg.SendTimeout,
		}
	}
	return t, nil
}

func buildTLS(cfg *Config) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	t := cfg.TLS
	if t == nil {
		return c, nil
	}
	c.ServerName = t.ServerName
	c.InsecureSkipVerify = t.InsecureSkipVerify
	if len(t.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CAPEM) {
			return nil, fmt.Errorf("upstream: service %q: tls: ca: no PEM certificate found", cfg.Name)
		}
		c.RootCAs = pool
	}
	if len(t.CertPEM) > 0 || len(t.KeyPEM) > 0 {
		cert, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("upstream: service %q: tls: client certificate: %w", cfg.Name, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// hostClient builds the HTTP/1.1 client for one endpoint. It is sized for
// proxying: many keep-alive connections, and no rewriting of what the proxy
// forwards (header case, path, User-Agent).
func (t *transport) hostClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                addr,
		IsTLS:               t.tls1 != nil,
		TLSConfig:           t.tls1,
		DialTimeout:         t.dialTimeout,
		MaxConns:            t.key.maxConns,
		MaxIdleConnDuration: t.key.maxIdle,
		// The whole request write, which fasthttp does at once from the
		// buffered request.
		WriteTimeout: t.key.sendTimeout,
		// One retry covers a keep-alive connection the server closed while it
		// sat idle. More would hammer a failing endpoint on the proxy's time;
		// the proxy retries on another endpoint under its own budget.
		MaxIdemponentCallAttempts: 2,
		// Response header names stay normalized so that hop-by-hop headers
		// are found and stripped whatever case the upstream wrote them in.
		// Paths are sent normalized too: the upstream gets the path the
		// router matched, never a raw /admin/..%2Fx it would read otherwise.
		NoDefaultUserAgentHeader: true,
		// Bodies are streamed through, not buffered: server-sent events,
		// long polls and large downloads reach the client as they come,
		// and memory does not grow with a response's size.
		StreamResponseBody: true,
	}
}

// dialTimeout is fasthttp's dial hook; it honours the tighter of the pool's
// connect timeout and the request's own deadline.
func (t *transport) dialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := t.dialer
	if timeout > 0 && timeout < d.Timeout {
		d.Timeout = timeout
	}
	return d.Dial("tcp", addr)
}

// dial opens a raw connection (TLS if the pool uses TLS, with ALPN http/1.1),
// for WebSocket upgrades and health checks.
func (t *transport) dial(ctx context.Context, addr string) (net.Conn, error) {
	if t.tls1 == nil {
		return t.dialer.DialContext(ctx, "tcp", addr)
	}
	d := tls.Dialer{NetDialer: &t.dialer, Config: t.tls1}
	return d.DialContext(ctx, "tcp", addr)
}

// dialH2 is the HTTP/2 transport's dial hook: plain TCP for h2c, TLS for
// HTTP2, where it insists the server agreed to h2 because http2.Transport does
// not check that on custom dials.
func (t *transport) dialH2(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	if t.key.protocol == H2C {
		return t.dialer.DialContext(ctx, network, addr)
	}
	d := tls.Dialer{NetDialer: &t.dialer, Config: cfg}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if p := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		c.Close()
		return nil, fmt.Errorf("upstream: endpoint %s: server negotiated %q, not h2", addr, p)
	}
	return c, nil
}

// close drops the idle connections of the HTTP/2 transport. In-flight streams
// keep their connections until they finish.
func (t *transport) close() {
	if t.h2 != nil {
		t.h2.CloseIdleConnections()
	}
}
