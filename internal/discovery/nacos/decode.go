package nacos

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strconv"

	"github.com/nacos-group/nacos-sdk-go/v2/model"

	"pylon.io/pylon/internal/discovery"
)

// serviceInfo is the answer of /nacos/v1/ns/instance/list.
type serviceInfo struct {
	Name        string     `json:"name"`
	Checksum    string     `json:"checksum"`
	LastRefTime int64      `json:"lastRefTime"`
	Hosts       []instance `json:"hosts"`
}

type instance struct {
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	ClusterName string            `json:"clusterName"`
	Metadata    map[string]string `json:"metadata"`
}

// decodeList parses a v1 instance list and maps it to a Set. It returns the
// number of metadata entries dropped for not being valid UTF-8.
func decodeList(body []byte, c Config) (serviceInfo, discovery.Set, int, error) {
	var si serviceInfo
	if err := json.Unmarshal(body, &si); err != nil {
		return si, discovery.Set{}, 0, fmt.Errorf("nacos: decoding instance list: %w", err)
	}
	set, dropped := toSet(si.Hosts, c)
	return si, set, dropped, nil
}

// fromSDK returns the v2 client's instances in the v1 shape, so both
// APIs share toSet. A port out of range becomes 0, which toSet drops.
func fromSDK(hosts []model.Instance) []instance {
	out := make([]instance, 0, min(len(hosts), discovery.MaxInstances))
	for _, h := range hosts {
		port := 0
		if h.Port <= 65535 {
			port = int(h.Port)
		}
		out = append(out, instance{IP: h.Ip, Port: port, Weight: h.Weight, Healthy: h.Healthy, Enabled: h.Enable,
			ClusterName: h.ClusterName, Metadata: h.Metadata})
	}
	return out
}

// weightScale turns Nacos's float weights (0.01-10000) into integer shares
// that keep two decimals of their ratio.
const weightScale = 100

// toSet maps instances of either API onto a Set: the one mapping of
// health, weight, metadata, tags and zone. It returns the number of
// metadata entries dropped for not being valid UTF-8.
func toSet(hosts []instance, c Config) (discovery.Set, int) {
	dropped := 0
	out := make([]discovery.Instance, 0, min(len(hosts), discovery.MaxInstances))
	for _, h := range hosts {
		if h.IP == "" || h.Port < 1 || h.Port > 65535 || !discovery.IsText(h.IP) {
			continue
		}
		in := discovery.Instance{
			Address: net.JoinHostPort(h.IP, strconv.Itoa(h.Port)),
			// Nacos keeps a disabled or zero-weight instance registered but
			// sends it no traffic; so do we.
			Healthy: h.Healthy && h.Enabled && h.Weight > 0,
			Zone:    h.ClusterName,
		}
		w := h.Weight * weightScale
		switch {
		case math.IsNaN(w) || w < 1:
			in.Weight = 1
		case w > 1e6:
			in.Weight = 1e6
		default:
			in.Weight = int(math.Round(w))
		}
		var n int
		in.Metadata, n = discovery.TextMetadata(h.Metadata)
		dropped += n
		if z := in.Metadata[c.ZoneKey]; z != "" {
			in.Zone = z
		}
		in.Tags = discovery.SplitTags(in.Metadata[c.TagsKey])
		out = append(out, in)
	}
	return discovery.SortedSet(out), dropped
}
