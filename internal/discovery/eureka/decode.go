package eureka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"pylon.io/pylon/internal/discovery"
)

type app struct {
	Name     string         `json:"name"`
	Instance list[Instance] `json:"instance"`
}

// Instance is one Eureka instance record.
type Instance struct {
	InstanceID     string            `json:"instanceId"`
	HostName       string            `json:"hostName"`
	App            string            `json:"app"`
	IPAddr         string            `json:"ipAddr"`
	Status         string            `json:"status"`
	Port           Port              `json:"port"`
	SecurePort     Port              `json:"securePort"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	DataCenterInfo struct {
		Class    string            `json:"@class"`
		Name     string            `json:"name"`
		Metadata map[string]string `json:"metadata,omitempty"`
	} `json:"dataCenterInfo"`
	ActionType string `json:"actionType,omitempty"`
}

// Port is Eureka's {"$": 8080, "@enabled": "true"}.
type Port struct {
	Port    int    `json:"$"`
	Enabled string `json:"@enabled"`
}

// list accepts a JSON array or, as Eureka writes a single element, an object.
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var one T
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*l = list[T]{one}
		return nil
	}
	var many []T
	err := json.Unmarshal(b, &many)
	*l = many
	return err
}

func decodeApps(b []byte) (map[string]Instance, string, error) {
	var w struct {
		Applications struct {
			Hashcode    string    `json:"apps__hashcode"`
			Application list[app] `json:"application"`
		} `json:"applications"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, "", fmt.Errorf("eureka: decoding applications: %w", err)
	}
	out := map[string]Instance{}
	for _, a := range w.Applications.Application {
		for _, in := range a.Instance {
			if in.App == "" {
				in.App = a.Name
			}
			in.App = strings.ToUpper(in.App)
			out[instKey(in)] = in
		}
	}
	return out, w.Applications.Hashcode, nil
}

func instKey(in Instance) string {
	id := in.InstanceID
	if id == "" {
		id = in.HostName + ":" + strconv.Itoa(in.Port.Port)
	}
	return in.App + "\x00" + id
}

// hashcode is Eureka's apps__hashcode: STATUS_count_ for each status, sorted.
func hashcode(reg map[string]Instance) string {
	counts := map[string]int{}
	for _, in := range reg {
		counts[in.Status]++
	}
	var st []string
	for s := range counts {
		st = append(st, s)
	}
	sort.Strings(st)
	var b strings.Builder
	for _, s := range st {
		fmt.Fprintf(&b, "%s_%d_", s, counts[s])
	}
	return b.String()
}

// toSet maps the instances of app to a Set; secure picks securePort.
func toSet(reg map[string]Instance, appName string, secure bool, tagsKey string) (discovery.Set, int) {
	appName = strings.ToUpper(appName)
	dropped := 0
	var out []discovery.Instance
	for _, in := range reg {
		if in.App != appName {
			continue
		}
		host := in.IPAddr
		if host == "" {
			host = in.HostName
		}
		p := in.Port
		if secure {
			p = in.SecurePort
		}
		if host == "" || !discovery.IsText(host) || p.Port < 1 || p.Port > 65535 || p.Enabled == "false" {
			continue
		}
		d := discovery.Instance{Address: net.JoinHostPort(host, strconv.Itoa(p.Port)), Weight: 1, Healthy: in.Status == "UP"}
		var n int
		d.Metadata, n = discovery.TextMetadata(in.Metadata)
		dropped += n
		d.Zone = d.Metadata["zone"]
		if z := in.DataCenterInfo.Metadata["availability-zone"]; d.Zone == "" && discovery.IsText(z) {
			d.Zone = z
		}
		d.Tags = discovery.SplitTags(d.Metadata[tagsKey])
		out = append(out, d)
	}
	return discovery.SortedSet(out), dropped
}

// decodeApp parses GET /apps/{APP}.
func decodeApp(b []byte) (map[string]Instance, error) {
	var w struct {
		Application app `json:"application"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("eureka: decoding application: %w", err)
	}
	out := map[string]Instance{}
	for _, in := range w.Application.Instance {
		if in.App == "" {
			in.App = w.Application.Name
		}
		in.App = strings.ToUpper(in.App)
		out[instKey(in)] = in
	}
	return out, nil
}
