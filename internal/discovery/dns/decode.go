package dns

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"pylon.io/pylon/internal/discovery"
)

// answer is what one DNS response says about a query.
type answer struct {
	set discovery.Set
	ttl time.Duration // the smallest TTL of the records used
	cut int           // records left out beyond discovery.MaxInstances
}

// addresses turns the A and AAAA records for name in m into instances on
// port. Records for other names (and CNAME chains' intermediate records)
// count only if they are the target of a CNAME in the answer.
func addresses(m *dns.Msg, name string, port int) answer {
	names := map[string]bool{dns.CanonicalName(name): true}
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CNAME); ok && names[dns.CanonicalName(c.Hdr.Name)] {
			names[dns.CanonicalName(c.Target)] = true
		}
	}
	var a answer
	seen := map[string]bool{}
	p := strconv.Itoa(port)
	for _, rr := range m.Answer {
		var ip net.IP
		switch r := rr.(type) {
		case *dns.A:
			ip = r.A
		case *dns.AAAA:
			ip = r.AAAA
		default:
			continue
		}
		if !names[dns.CanonicalName(rr.Header().Name)] || ip == nil || ip.IsUnspecified() {
			continue
		}
		addr := net.JoinHostPort(ip.String(), p)
		if seen[addr] {
			continue
		}
		seen[addr] = true
		a.ttl = minTTL(a.ttl, rr.Header().Ttl)
		if len(a.set.Instances) >= discovery.MaxInstances {
			a.cut++
			continue
		}
		a.set.Instances = append(a.set.Instances, discovery.Instance{Address: addr, Weight: 1, Healthy: true})
	}
	sortInstances(a.set.Instances)
	return a
}

func minTTL(cur time.Duration, ttl uint32) time.Duration {
	d := time.Duration(ttl) * time.Second
	if cur == 0 || d < cur {
		return d
	}
	return cur
}

// srvRecords returns the usable SRV records for name in m, sorted by
// priority then target. A target of "." means the service is not offered
// there (RFC 2782) and is left out.
func srvRecords(m *dns.Msg, name string) []*dns.SRV {
	var out []*dns.SRV
	for _, rr := range m.Answer {
		s, ok := rr.(*dns.SRV)
		if !ok || dns.CanonicalName(s.Hdr.Name) != dns.CanonicalName(name) || s.Target == "." || s.Port == 0 {
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *dns.SRV) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.Target, b.Target), cmp.Compare(a.Port, b.Port))
	})
	return out
}

// glue returns the addresses the additional section of m gives for
// target, so the common case needs no second query.
func glue(m *dns.Msg, target string) []net.IP {
	var ips []net.IP
	for _, rr := range m.Extra {
		if !strings.EqualFold(dns.CanonicalName(rr.Header().Name), dns.CanonicalName(target)) {
			continue
		}
		switch r := rr.(type) {
		case *dns.A:
			ips = append(ips, r.A)
		case *dns.AAAA:
			ips = append(ips, r.AAAA)
		}
	}
	return ips
}

// srvSet builds the set of the lowest priority whose targets resolve:
// lookup gives a target's addresses. A priority none of whose targets has
// an address falls back to the next one. An SRV weight of 0 counts as 1:
// the pool has no "only when nothing else" weight.
func srvSet(recs []*dns.SRV, ttl time.Duration, lookup func(target string) []net.IP) answer {
	var a answer
	for i := 0; i < len(recs); {
		j := i
		for j < len(recs) && recs[j].Priority == recs[i].Priority {
			j++
		}
		seen := map[string]bool{}
		var cand answer
		cand.ttl = ttl
		for _, r := range recs[i:j] {
			for _, ip := range lookup(r.Target) {
				if ip == nil || ip.IsUnspecified() {
					continue
				}
				addr := net.JoinHostPort(ip.String(), strconv.Itoa(int(r.Port)))
				if seen[addr] {
					continue
				}
				seen[addr] = true
				if len(cand.set.Instances) >= discovery.MaxInstances {
					cand.cut++
					continue
				}
				cand.set.Instances = append(cand.set.Instances, discovery.Instance{Address: addr, Weight: max(int(r.Weight), 1), Healthy: true})
			}
		}
		if len(cand.set.Instances) > 0 {
			sortInstances(cand.set.Instances)
			return cand
		}
		i = j
	}
	a.ttl = ttl
	return a
}

func sortInstances(in []discovery.Instance) {
	slices.SortFunc(in, func(a, b discovery.Instance) int { return strings.Compare(a.Address, b.Address) })
}
