package zookeeper

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"pylon.io/pylon/internal/discovery"
)

// record is what one registry node says of an instance, in either layout,
// before the provider's keys (weight, tags, zone) are read from it.
type record struct {
	node    string // the node's name, to break ties between duplicates
	host    string
	port    int
	enabled bool              // false: registered but switched off by its operator
	params  map[string]string // Dubbo URL parameters, or Curator payload metadata
}

// Bounds of what one node may hold. A Dubbo provider's URL is a few
// hundred bytes to a few KiB and a Curator instance about 1 KiB; anything
// far larger is not an instance record.
const (
	maxNodeName = 64 << 10
	maxNodeData = 256 << 10
)

// layout is what differs between the two layouts once a node is decoded.
type layout struct {
	weight int      // the weight of an instance that gives none
	tags   []string // the metadata keys tried in turn for tags, unless tagsKey is set
}

var layouts = map[string]layout{
	// Dubbo's default weight is 100 and its tag router reads dubbo.tag; a
	// plain tag parameter is read when dubbo.tag is not set.
	LayoutDubbo:   {weight: 100, tags: []string{"dubbo.tag", "tag"}},
	LayoutCurator: {weight: 1, tags: []string{"tags"}},
}

// toSet maps the records of one service's nodes to a set, with one
// instance per address (a restarted application can leave its old
// ephemeral node behind for a session timeout): a healthy record wins
// over an unhealthy one, then the greater node name. It returns the
// number of metadata entries dropped for not being UTF-8 text.
func (c Config) toSet(name string, recs []record) (discovery.Set, int) {
	lay := layouts[name]
	byAddr := make(map[string]int, len(recs))
	var out []discovery.Instance
	var nodes []string
	dropped := 0
	for _, r := range recs {
		in, n := c.instance(lay, r)
		dropped += n
		if i, dup := byAddr[in.Address]; dup {
			if better(in, r.node, out[i], nodes[i]) {
				out[i], nodes[i] = in, r.node
			}
			continue
		}
		byAddr[in.Address] = len(out)
		out = append(out, in)
		nodes = append(nodes, r.node)
	}
	return discovery.SortedSet(out), dropped
}

func better(a discovery.Instance, aNode string, b discovery.Instance, bNode string) bool {
	if a.Healthy != b.Healthy {
		return a.Healthy
	}
	return aNode > bNode
}

func (c Config) instance(lay layout, r record) (discovery.Instance, int) {
	meta, dropped := discovery.TextMetadata(r.params)
	in := discovery.Instance{
		Address:  net.JoinHostPort(r.host, strconv.Itoa(r.port)),
		Metadata: meta,
		Zone:     meta[c.ZoneKey],
	}
	w := lay.weight
	if v := strings.TrimSpace(meta[c.WeightKey]); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			w = n
		}
	}
	// As in Dubbo's load balancers, a weight of 0 (or less) takes no
	// traffic; the instance stays listed.
	in.Healthy = r.enabled && w > 0
	in.Weight = min(max(w, 1), 1_000_000)
	keys := lay.tags
	if c.TagsKey != "" {
		keys = []string{c.TagsKey}
	}
	for _, k := range keys {
		if v := meta[k]; v != "" {
			in.Tags = discovery.SplitTags(v)
			break
		}
	}
	return in, dropped
}

// validHost reports whether h can be the host of an instance address.
func validHost(h string) bool {
	return h != "" && discovery.IsText(h) && !strings.ContainsFunc(h, func(r rune) bool {
		return r <= ' ' || r == 0x7f || slices.Contains([]rune("/?#@[]"), r)
	})
}
