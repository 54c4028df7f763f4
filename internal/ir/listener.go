package ir

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Listener protocols.
const (
	ProtocolHTTP  = "http"  // HTTP/1.1 only (WebSocket included): the fastest path
	ProtocolHTTPS = "https" // TLS with ALPN: h2 and http/1.1
	ProtocolH2C   = "h2c"   // HTTP/2 without TLS (prior knowledge, e.g. gRPC) and HTTP/1.1, told apart by the preface
)

// Listener is an address Pylon accepts connections on.
type Listener struct {
	Name     string       `json:"name" yaml:"name"`
	Address  string       `json:"address" yaml:"address"`
	Protocol string       `json:"protocol" yaml:"protocol"`
	TLS      *ListenerTLS `json:"tls,omitempty" yaml:"tls,omitempty"`
	Limits   Limits       `json:"limits,omitzero" yaml:"limits,omitempty"`
	// TrustedProxies are the peers (addresses or CIDR ranges) whose
	// X-Forwarded-For, -Proto and -Host are believed and extended. With
	// some set, every other peer's forwarding headers are replaced by
	// Pylon's own; with none, X-Forwarded-For is extended for every peer
	// (nginx's proxy_add_x_forwarded_for) and -Proto and -Host are set.
	TrustedProxies []string `json:"trustedProxies,omitempty" yaml:"trustedProxies,omitempty"`
}

// ParseTrustedProxies parses addresses and CIDR ranges into prefixes.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range list {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("trustedProxies[%d]: %q is not an address or CIDR range", i, s))
			continue
		}
		out = append(out, pfx.Masked())
	}
	return out, errors.Join(errs...)
}

// ListenerTLS configures TLS termination. Certificates are chosen by SNI from
// every certificate Pylon knows; DefaultCertificate answers clients whose
// name matches none.
type ListenerTLS struct {
	DefaultCertificate string `json:"defaultCertificate,omitempty" yaml:"defaultCertificate,omitempty"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `json:"minVersion,omitempty" yaml:"minVersion,omitempty"`
}

// Limits protect the listener against slow or oversized clients. Zero values
// mean the defaults below; MaxConnections and WriteTimeout have none (zero is
// unlimited). Over HTTP/2, MaxBodyBytes is checked against the declared
// Content-Length: streams (gRPC) are not cut.
type Limits struct {
	MaxHeaderBytes int      `json:"maxHeaderBytes,omitempty" yaml:"maxHeaderBytes,omitempty"`
	MaxBodyBytes   int64    `json:"maxBodyBytes,omitempty" yaml:"maxBodyBytes,omitempty"`
	ReadTimeout    Duration `json:"readTimeout,omitempty" yaml:"readTimeout,omitempty"`
	WriteTimeout   Duration `json:"writeTimeout,omitempty" yaml:"writeTimeout,omitempty"`
	IdleTimeout    Duration `json:"idleTimeout,omitempty" yaml:"idleTimeout,omitempty"`
	MaxConnections int      `json:"maxConnections,omitempty" yaml:"maxConnections,omitempty"`
}

// Default limits.
const (
	DefaultMaxHeaderBytes = 32 << 10
	DefaultMaxBodyBytes   = 64 << 20
	DefaultReadTimeout    = Duration(60e9)
	DefaultIdleTimeout    = Duration(120e9)
)

// WithDefaults returns l with zero fields replaced by the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

func (l *Listener) ResourceKind() Kind   { return KindListener }
func (l *Listener) ResourceName() string { return l.Name }

// Validate checks the listener on its own.
func (l *Listener) Validate() error {
	p := &problems{kind: KindListener, name: l.Name}
	checkName(p, l.Name)
	host, port, err := net.SplitHostPort(l.Address)
	if err != nil {
		p.add("address", "must be host:port (got %q)", l.Address)
	} else {
		if host != "" && net.ParseIP(host) == nil && host != "localhost" {
			p.add("address", "host must be an IP address or empty (got %q)", host)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.add("address", "port must be 0-65535 (got %q)", port)
		}
	}
	switch l.Protocol {
	case ProtocolHTTP, ProtocolH2C:
		if l.TLS != nil {
			p.add("tls", "only allowed with protocol https")
		}
	case ProtocolHTTPS:
		if l.TLS != nil && l.TLS.MinVersion != "" && l.TLS.MinVersion != "1.2" && l.TLS.MinVersion != "1.3" {
			p.add("tls.minVersion", "must be \"1.2\" or \"1.3\" (got %q)", l.TLS.MinVersion)
		}
	default:
		p.add("protocol", "must be http, https or h2c (got %q)", l.Protocol)
	}
	if _, err := ParseTrustedProxies(l.TrustedProxies); err != nil {
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			f, msg, _ := strings.Cut(e.Error(), ": ")
			p.add(f, "%s", msg)
		}
	}
	lim := l.Limits
	if lim.MaxHeaderBytes < 0 || (lim.MaxHeaderBytes > 0 && lim.MaxHeaderBytes < 1024) {
		p.add("limits.maxHeaderBytes", "must be at least 1024 (got %d)", lim.MaxHeaderBytes)
	}
	if lim.MaxBodyBytes < 0 {
		p.add("limits.maxBodyBytes", "must not be negative")
	}
	if lim.MaxConnections < 0 {
		p.add("limits.maxConnections", "must not be negative")
	}
	return p.err()
}
