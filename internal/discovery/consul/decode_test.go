package consul

import (
	"fmt"
	"strings"
	"testing"

	"pylon.io/pylon/internal/discovery"
)

// entry writes one element of a health answer as Consul does.
func entry(nodeAddr, nodeMeta, svcAddr string, port int, weights, meta, tags string, checks ...string) string {
	if weights == "" {
		weights = `{"Passing":1,"Warning":1}`
	}
	var cs []string
	for i, st := range checks {
		id, status, _ := strings.Cut(st, "=")
		if status == "" {
			id, status = fmt.Sprintf("check:%d", i), st
		}
		cs = append(cs, fmt.Sprintf(`{"CheckID":%q,"Status":%q}`, id, status))
	}
	return fmt.Sprintf(`{"Node":{"Node":"n","Address":%q,"Meta":%s},"Service":{"ID":"i","Service":"orders","Address":%q,"Port":%d,"Weights":%s,"Meta":%s,"Tags":%s},"Checks":[%s]}`,
		nodeAddr, nodeMeta, svcAddr, port, weights, meta, tags, strings.Join(cs, ","))
}

func TestDecodeEntries(t *testing.T) {
	body := "[" + strings.Join([]string{
		// the service address over the node's; zone from the service meta
		entry("10.0.0.9", `{"zone":"node-zone"}`, "10.0.0.1", 80, `{"Passing":5,"Warning":2}`, `{"zone":"az1","v":"2"}`, `["gray","v2"]`, "passing", "passing"),
		// the node address when the service has none; IPv6 bracketed;
		// zone from the node meta; warning takes the warning weight
		entry("fd00::1", `{"zone":"node-zone"}`, "", 81, `{"Passing":5,"Warning":2}`, `null`, `[]`, "passing", "warning"),
		// critical, and maintenance, are not healthy
		entry("10.0.0.2", `{}`, "", 82, "", `{}`, `[]`, "critical"),
		entry("10.0.0.3", `{}`, "", 83, "", `{}`, `[]`, "passing", "_node_maintenance=critical"),
		// a warning weight of 0: no traffic while warning
		entry("10.0.0.4", `{}`, "", 84, `{"Passing":3,"Warning":0}`, `{}`, `[]`, "warning"),
		// no port: the query's port
		entry("10.0.0.5", `{}`, "", 0, "", `{}`, `[]`, "passing"),
		// a bracketed IPv6 service address is not bracketed twice
		entry("10.0.0.9", `{}`, "[fd00::2]", 85, "", `{}`, `[]`),
		// left out: no address, an address that is not one, a bad port
		entry("", `{}`, "", 86, "", `{}`, `[]`, "passing"),
		entry("", `{}`, "10.0.0.6/24", 87, "", `{}`, `[]`, "passing"),
		entry("10.0.0.7", `{}`, "", 70000, "", `{}`, `[]`, "passing"),
		// the same address twice: one endpoint, the healthy one
		entry("10.0.0.8", `{}`, "", 88, "", `{}`, `[]`, "critical"),
		entry("10.0.0.8", `{}`, "", 88, "", `{}`, `["second"]`, "passing"),
		"null",
		`{"Node":null,"Service":null,"Checks":null}`,
	}, ",") + "]"
	d, err := decodeEntries([]byte(body), mapping{zoneKey: "zone", port: 9000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]discovery.Instance{}
	var order []string
	for _, in := range d.set.Instances {
		got[in.Address] = in
		order = append(order, in.Address)
	}
	want := "10.0.0.1:80,10.0.0.2:82,10.0.0.3:83,10.0.0.4:84,10.0.0.5:9000,10.0.0.8:88,[fd00::1]:81,[fd00::2]:85"
	if strings.Join(order, ",") != want {
		t.Fatalf("addresses = %v; want %s", order, want)
	}
	if d.skipped != 5 {
		t.Errorf("skipped = %d; want 5", d.skipped)
	}
	for _, tc := range []struct {
		addr    string
		healthy bool
		weight  int
		zone    string
		tags    string
	}{
		{"10.0.0.1:80", true, 5, "az1", "gray,v2"},
		{"[fd00::1]:81", true, 2, "node-zone", ""},
		{"10.0.0.2:82", false, 1, "", ""},
		{"10.0.0.3:83", false, 1, "", ""},
		{"10.0.0.4:84", false, 1, "", ""},
		{"10.0.0.5:9000", true, 1, "", ""},
		{"[fd00::2]:85", true, 1, "", ""},
		{"10.0.0.8:88", true, 1, "", "second"},
	} {
		in := got[tc.addr]
		if in.Healthy != tc.healthy || in.Weight != tc.weight || in.Zone != tc.zone || strings.Join(in.Tags, ",") != tc.tags {
			t.Errorf("%s = %+v; want healthy %v weight %d zone %q tags %q", tc.addr, in, tc.healthy, tc.weight, tc.zone, tc.tags)
		}
	}
	if m := got["10.0.0.1:80"].Metadata; len(m) != 2 || m["v"] != "2" {
		t.Errorf("metadata = %v", m)
	}
}

func TestDecodeDropsBadUTF8(t *testing.T) {
	body := "[" + entry("10.0.0.1", "{\"zone\":\"\xff\"}", "", 80, "", "{\"ok\":\"yes\",\"bad\":\"\xfe\",\"\xff\":\"v\"}", "[\"good\",\"\xff\"]", "passing") + "]"
	d, err := decodeEntries([]byte(body), mapping{zoneKey: "zone"})
	if err != nil || len(d.set.Instances) != 1 {
		t.Fatalf("decode = %+v, %v", d, err)
	}
	in := d.set.Instances[0]
	if d.dropped != 3 || len(in.Metadata) != 1 || in.Metadata["ok"] != "yes" || strings.Join(in.Tags, ",") != "good" || in.Zone != "" {
		t.Fatalf("instance = %+v, dropped %d", in, d.dropped)
	}
}

func TestDecodeRefusesOversize(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range discovery.MaxInstances + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"Node":{"Address":"10.%d.%d.%d"},"Service":{"Port":80}}`, i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("]")
	_, err := decodeEntries([]byte(b.String()), mapping{})
	if err == nil || !strings.Contains(err.Error(), "4097 instances, more than the bound of 4096") {
		t.Fatalf("decode of 4097 entries = %v", err)
	}
	if _, err := decodeEntries([]byte(`{"not":"a list"}`), mapping{}); err == nil {
		t.Fatal("decode of an object succeeded")
	}
}

func TestNextIndex(t *testing.T) {
	for _, tc := range []struct{ prev, got, want uint64 }{
		{0, 0, 1}, // never 0: index 0 does not block
		{0, 7, 7}, // the first read
		{7, 9, 9}, // moved on
		{9, 9, 9}, // a wait that timed out
		{9, 3, 0}, // went backwards: a fresh read
		{9, 0, 0}, // backwards to 0: a fresh read, then 1
		{12, 13, 13},
	} {
		if got := nextIndex(tc.prev, tc.got); got != tc.want {
			t.Errorf("nextIndex(%d, %d) = %d; want %d", tc.prev, tc.got, got, tc.want)
		}
	}
}
