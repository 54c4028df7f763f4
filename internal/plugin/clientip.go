package plugin

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"unsafe"
)

// ClientAddr returns the address of the client behind the request, for
// plugins that decide by it (address restriction, limits keyed by client).
//
// When the connected peer is not in trusted, it is the client: headers
// naming another address are ignored, since anyone can send them. When the
// peer is trusted (a load balancer or proxy in front of Pylon), the address
// comes from header (X-Forwarded-For when header is ""), read as a comma
// list across all its lines and walked from the right: the first entry
// that is not itself trusted is the client, because only entries appended
// by trusted proxies can be believed. If every entry is trusted, the
// leftmost is taken; an entry that is not an address stops the walk at the
// last good one (the peer if there is none). Entries may carry a port
// ("1.2.3.4:5", "[::1]:5"); IPv4-mapped IPv6 addresses are returned as
// IPv4 and zones are dropped, so IPv4 prefixes match them.
//
// It does not allocate. The zero Addr means the peer address itself does
// not parse.
func ClientAddr(c Ctx, trusted []netip.Prefix, header string) netip.Addr {
	peer, ok := ParseAddr(c.ClientIP())
	if !ok || !contains(trusted, peer) {
		return peer
	}
	if header == "" {
		header = "X-Forwarded-For"
	}
	v := visitors.Get().(*visitor)
	v.name, v.n = header, 0
	c.VisitHeaders(v.fn)
	addr := peer
	n := min(v.n, len(v.lines))
walk:
	for i := n - 1; i >= 0; i-- {
		line := v.lines[(v.n-n+i)%len(v.lines)]
		for len(line) > 0 {
			var entry []byte
			if j := lastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, nil
			}
			if len(trimSpace(entry)) == 0 {
				continue
			}
			a, ok := ParseAddr(entry)
			if !ok {
				break walk
			}
			addr = a
			if !contains(trusted, a) {
				break walk
			}
		}
	}
	clear(v.lines[:])
	visitors.Put(v)
	return addr
}

// visitor collects the last lines of one request header; pooled with its
// method value so VisitHeaders gets a func without allocating one.
type visitor struct {
	name  string
	lines [8][]byte // a ring of the last lines seen
	n     int
	fn    func(name, value []byte)
}

var visitors = sync.Pool{New: func() any {
	v := &visitor{}
	v.fn = v.visit
	return v
}}

func (v *visitor) visit(name, value []byte) {
	if strings.EqualFold(unsafe.String(unsafe.SliceData(name), len(name)), v.name) {
		v.lines[v.n%len(v.lines)] = value
		v.n++
	}
}

// ParseAddr parses an IP address as clients and proxies write it: plain,
// with a port, in brackets, with a zone (dropped); IPv4-mapped IPv6 becomes
// IPv4. It does not allocate for valid input.
func ParseAddr(b []byte) (netip.Addr, bool) {
	b = trimSpace(b)
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	s := unsafe.String(unsafe.SliceData(b), len(b)) // netip keeps no reference to valid input
	a, err := netip.ParseAddr(s)
	if err != nil {
		switch {
		case b[0] == '[' && b[len(b)-1] == ']':
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		case strings.Count(s, ":") <= 1 || b[0] == '[':
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(s)
			a = ap.Addr()
		}
		if err != nil {
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}

// ParsePrefixes parses a config list of CIDRs ("10.0.0.0/8", "2001:db8::/32")
// and plain addresses (a /32 or /128). field names the list in errors
// ("allow" gives "allow[2]: ...").
func ParsePrefixes(field string, list []string) ([]netip.Prefix, error) {
	var errs []error
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || strings.Contains(s, "%") {
			errs = append(errs, Errorf(fmt.Sprintf("%s[%d]", field, i), "must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got %q", s))
			continue
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, errors.Join(errs...)
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
