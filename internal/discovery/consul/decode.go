package consul

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"pylon.io/pylon/internal/discovery"
)

// mapping is what turning an answer into a Set needs besides the answer.
type mapping struct {
	zoneKey string // service or node meta key of the zone
	port    int    // the query's port, for instances registered without one
}

// decoded is a health answer mapped onto a Set.
type decoded struct {
	set     discovery.Set
	dropped int // metadata entries and tags left out for not being text
	skipped int // entries without a usable address or port
}

// decodeEntries parses an answer of GET /v1/health/service/<name> and maps
// it onto a Set. An answer with more than discovery.MaxInstances entries is
// an error rather than a cut: which instances a cut keeps would be
// arbitrary, and a pool of a random part of a service is worse than the
// last set that was whole.
func decodeEntries(body []byte, m mapping) (decoded, error) {
	var entries []*api.ServiceEntry
	if err := json.Unmarshal(body, &entries); err != nil {
		return decoded{}, fmt.Errorf("decoding the health answer: %w", err)
	}
	if len(entries) > discovery.MaxInstances {
		return decoded{}, fmt.Errorf("the answer has %d instances, more than the bound of %d", len(entries), discovery.MaxInstances)
	}
	var d decoded
	out := make([]discovery.Instance, 0, len(entries))
	at := make(map[string]int, len(entries)) // address → index in out
	for _, e := range entries {
		in, dropped, ok := instance(e, m)
		d.dropped += dropped
		if !ok {
			d.skipped++
			continue
		}
		// Two registrations of one address (two service IDs, or two nodes
		// naming the same host) are one endpoint to a pool; a healthy one
		// wins, else the first in Consul's order.
		if i, dup := at[in.Address]; dup {
			if in.Healthy && !out[i].Healthy {
				out[i] = in
			}
			continue
		}
		at[in.Address] = len(out)
		out = append(out, in)
	}
	d.set = discovery.SortedSet(out)
	return d, nil
}

// Weights bound what a pool is given; Consul has no upper bound of its own.
const maxWeight = 1_000_000

// instance maps one entry; ok is false when it has no usable address or port.
func instance(e *api.ServiceEntry, m mapping) (in discovery.Instance, dropped int, ok bool) {
	if e == nil || e.Service == nil {
		return in, 0, false
	}
	s := e.Service
	host := s.Address
	if host == "" && e.Node != nil {
		host = e.Node.Address
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	port := s.Port
	if port == 0 {
		port = m.port
	}
	if host == "" || !discovery.IsText(host) || strings.ContainsFunc(host, badHostRune) || port < 1 || port > 65535 {
		return in, 0, false
	}
	in.Address = net.JoinHostPort(host, strconv.Itoa(port))

	// Consul gives every instance weights (1 and 1 unless registered
	// otherwise); an answer without them counts as 1 and 1.
	w := s.Weights
	if w.Passing == 0 && w.Warning == 0 {
		w = api.AgentWeights{Passing: 1, Warning: 1}
	}
	switch e.Checks.AggregatedStatus() {
	case api.HealthPassing:
		in.Healthy, in.Weight = true, w.Passing
	case api.HealthWarning:
		// A warning weight of 0 is Consul's way to say "no traffic while
		// warning".
		in.Healthy, in.Weight = w.Warning > 0, w.Warning
	default: // critical, maintenance, or a state Consul does not define
		in.Weight = w.Passing
	}
	in.Weight = min(max(in.Weight, 1), maxWeight)

	for _, t := range s.Tags {
		if !discovery.IsText(t) {
			dropped++
			continue
		}
		in.Tags = append(in.Tags, t)
	}
	var n int
	in.Metadata, n = discovery.TextMetadata(s.Meta)
	dropped += n
	in.Zone = in.Metadata[m.zoneKey]
	if z := nodeMeta(e, m.zoneKey); in.Zone == "" && discovery.IsText(z) {
		in.Zone = z
	}
	return in, dropped, true
}

func nodeMeta(e *api.ServiceEntry, key string) string {
	if e.Node == nil {
		return ""
	}
	return e.Node.Meta[key]
}

// badHostRune reports runes that no IP address or host name holds, so an
// address Consul was given as "10.0.0.1/24" or "http://h" never reaches a
// pool.
func badHostRune(r rune) bool {
	return r <= ' ' || r == 0x7f || strings.ContainsRune("/?#@[]\\\"'", r)
}
