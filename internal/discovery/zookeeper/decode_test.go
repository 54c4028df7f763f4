package zookeeper

import (
	"slices"
	"strings"
	"testing"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/test/testenv"
)

// dubboNode names a provider node as Dubbo does.
func dubboNode(u string) string { return testenv.JavaURLEncode(u) }

func decodeDubboSet(t *testing.T, c Config, urls ...string) discovery.Set {
	t.Helper()
	var recs []record
	for _, u := range urls {
		r, err := decodeDubbo(dubboNode(u))
		if err != nil {
			t.Fatalf("decodeDubbo(%s): %v", u, err)
		}
		recs = append(recs, r)
	}
	set, _ := c.withDefaults().toSet(LayoutDubbo, recs)
	return set
}

func TestDecodeDubbo(t *testing.T) {
	const iface = "org.apache.dubbo.demo.DemoService"
	set := decodeDubboSet(t, Config{},
		"dubbo://10.0.0.1:20880/"+iface+"?anyhost=true&application=demo&interface="+iface+"&methods=sayHello,sayHelloAsync&side=provider&weight=200&dubbo.tag=gray&zone=az1&timestamp=1",
		"tri://[fe80::1]:50051/"+iface+"?interface="+iface+"&tag=canary",
		"dubbo://0:0:0:0:0:0:0:2:20880/"+iface+"?interface="+iface+"&enabled=false",
		"dubbo://user:pw@10.0.0.3:20880/"+iface+"?disabled=true&enabled=true",
		"dubbo://10.0.0.4:20880/"+iface+"?disabled=false&enabled=false",
		"dubbo://10.0.0.5:20880/"+iface+"?weight=0",
		"dubbo://10.0.0.6:20880/"+iface+"?default.weight=7&default.zone=z&zone=own",
		"rest://10.0.0.7:8080/"+iface+"?name=a b&weight=abc",
	)
	got := map[string]discovery.Instance{}
	for _, in := range set.Instances {
		got[in.Address] = in
	}
	check := func(addr string, healthy bool, weight int, zone string, tags ...string) {
		t.Helper()
		in, ok := got[addr]
		if !ok {
			t.Errorf("no instance %s in %v", addr, set.Instances)
			return
		}
		if in.Healthy != healthy || in.Weight != weight || in.Zone != zone || !slices.Equal(in.Tags, tags) {
			t.Errorf("%s = healthy %v weight %d zone %q tags %q; want %v %d %q %q", addr, in.Healthy, in.Weight, in.Zone, in.Tags, healthy, weight, zone, tags)
		}
	}
	check("10.0.0.1:20880", true, 200, "az1", "gray")
	check("[fe80::1]:50051", true, 100, "", "canary")
	check("[0:0:0:0:0:0:0:2]:20880", false, 100, "")
	check("10.0.0.3:20880", false, 100, "")
	check("10.0.0.4:20880", true, 100, "") // disabled=false decides over enabled=false
	check("10.0.0.5:20880", false, 1, "")  // weight 0: listed, no traffic
	check("10.0.0.6:20880", true, 7, "own")
	check("10.0.0.7:8080", true, 100, "") // a weight that is not a number is the default
	if m := got["10.0.0.1:20880"].Metadata; m["application"] != "demo" || m["methods"] != "sayHello,sayHelloAsync" || m["interface"] != iface {
		t.Errorf("metadata = %v", m)
	}
	if m := got["10.0.0.7:8080"].Metadata; m["name"] != "a b" {
		t.Errorf("name = %q; want %q", m["name"], "a b")
	}
	// URLEncoder writes a space as +; %20 decodes to one too.
	if r, err := decodeDubbo("rest%3A%2F%2F10.0.0.7%3A8080%2FI%3Fname%3Da+b%20c"); err != nil || r.params["name"] != "a b c" {
		t.Errorf("decode = %+v, %v", r, err)
	}
	if len(set.Instances) != 8 || !slices.IsSortedFunc(set.Instances, func(a, b discovery.Instance) int { return strings.Compare(a.Address, b.Address) }) {
		t.Errorf("set = %v", set.Instances)
	}
}

func TestDecodeDubboKeys(t *testing.T) {
	set := decodeDubboSet(t, Config{TagsKey: "env", ZoneKey: "idc", WeightKey: "w"},
		"dubbo://10.0.0.1:20880/I?env=blue,green&idc=hz&w=5&dubbo.tag=gray&weight=9&zone=x")
	in := set.Instances[0]
	if in.Weight != 5 || in.Zone != "hz" || !slices.Equal(in.Tags, []string{"blue", "green"}) {
		t.Fatalf("instance = %+v", in)
	}
}

func TestDecodeDubboRejects(t *testing.T) {
	for _, name := range []string{
		"10.0.0.1:20880",                           // not a URL
		dubboNode("dubbo://10.0.0.1/I?a=b"),        // no port
		dubboNode("dubbo://10.0.0.1:0/I"),          // port 0
		dubboNode("dubbo://10.0.0.1:70000/I"),      // port out of range
		dubboNode("dubbo://:20880/I"),              // no host
		dubboNode("dubbo://[::1/I"),                // unclosed bracket
		dubboNode("empty://10.0.0.1:20880/I"),      // Dubbo's "no providers" marker
		"dubbo%3A%2F%2F10.0.0.1%3A20880%2FI%3Fa%3", // cut escape
		"dubbo%3A%2F%2F10.0.0.1%3A20880%2FI%3Fa%3Dx%zz",
		dubboNode("dubbo://10.0.0.1 x:20880/I"), // space in host
		strings.Repeat("a", maxNodeName+1),
	} {
		if r, err := decodeDubbo(name); err == nil {
			t.Errorf("decodeDubbo(%.80q) = %+v; want an error", name, r)
		}
	}
}

func TestDecodeDubboBadUTF8(t *testing.T) {
	r, err := decodeDubbo(dubboNode("dubbo://10.0.0.1:20880/I?ok=1&bad=\xff&\xfe=v"))
	if err != nil {
		t.Fatal(err)
	}
	set, dropped := Config{}.withDefaults().toSet(LayoutDubbo, []record{r})
	if dropped != 2 || len(set.Instances[0].Metadata) != 1 || set.Instances[0].Metadata["ok"] != "1" {
		t.Fatalf("metadata = %v, dropped %d", set.Instances[0].Metadata, dropped)
	}
	if _, err := decodeDubbo(dubboNode("dubbo://10.0.0.\xff:20880/I")); err == nil {
		t.Fatal("a host that is not UTF-8 was accepted")
	}
}

func TestJavaURLEncodeRoundTrip(t *testing.T) {
	for _, s := range []string{"", "org.a.B", "a b+c", "dubbo://[::1]:1/x?y=é&z=*~", "\x00\xff"} {
		enc := javaURLEncode(s)
		if enc != testenv.JavaURLEncode(s) {
			t.Errorf("encode(%q) = %q; testenv says %q", s, enc, testenv.JavaURLEncode(s))
		}
		if dec, err := javaURLDecode(enc); err != nil || dec != s {
			t.Errorf("decode(encode(%q)) = %q, %v", s, dec, err)
		}
	}
	if got := javaURLEncode("a b*~/"); got != "a+b*%7E%2F" {
		t.Errorf("encode = %q; Java's URLEncoder gives a+b*%%7E%%2F", got)
	}
}

func TestDecodeCurator(t *testing.T) {
	recs := []record{}
	for i, data := range []string{
		string(testenv.CuratorInstance("orders", "a", "10.0.0.1", 8080, map[string]string{"tags": "gray, v2", "zone": "z1", "weight": "3", "instance_status": "UP"})),
		string(testenv.CuratorInstance("orders", "b", "10.0.0.2", 8080, map[string]string{"instance_status": "OUT_OF_SERVICE"})),
		`{"name":"orders","id":"c","address":"10.0.0.3","port":null,"sslPort":8443,"payload":null}`,
		`{"name":"orders","id":"d","address":"10.0.0.4","port":80,"enabled":false}`,
		`{"name":"orders","id":"e","address":"::1","port":80,"payload":{"@class":"x","metadata":{"n":1,"s":"t"}}}`,
		`{"name":"orders","id":"f","address":"10.0.0.5","port":80,"payload":"opaque"}`,
		// The same address as a, registered again: the healthy one wins.
		string(testenv.CuratorInstance("orders", "a2", "10.0.0.1", 8080, map[string]string{"instance_status": "DOWN"})),
	} {
		r, err := decodeCurator(string(rune('a'+i)), []byte(data))
		if err != nil {
			t.Fatalf("decodeCurator(%s): %v", data, err)
		}
		recs = append(recs, r)
	}
	set, _ := Config{}.withDefaults().toSet(LayoutCurator, recs)
	got := map[string]discovery.Instance{}
	for _, in := range set.Instances {
		got[in.Address] = in
	}
	if len(set.Instances) != 6 {
		t.Fatalf("set = %+v", set.Instances)
	}
	if in := got["10.0.0.1:8080"]; !in.Healthy || in.Weight != 3 || in.Zone != "z1" || !slices.Equal(in.Tags, []string{"gray", "v2"}) || in.Metadata["instance_status"] != "UP" {
		t.Errorf("a = %+v", in)
	}
	if in := got["10.0.0.2:8080"]; in.Healthy {
		t.Errorf("OUT_OF_SERVICE instance is healthy: %+v", in)
	}
	if in := got["10.0.0.3:8443"]; !in.Healthy || in.Weight != 1 {
		t.Errorf("sslPort-only instance = %+v", in)
	}
	if in := got["10.0.0.4:80"]; in.Healthy {
		t.Errorf("enabled:false instance is healthy: %+v", in)
	}
	if in := got["[::1]:80"]; len(in.Metadata) != 1 || in.Metadata["s"] != "t" {
		t.Errorf("non-string metadata kept: %+v", in.Metadata)
	}
	if in := got["10.0.0.5:80"]; !in.Healthy || in.Metadata != nil {
		t.Errorf("opaque payload instance = %+v", in)
	}
}

func TestDecodeCuratorRejects(t *testing.T) {
	for _, data := range []string{
		``, `null`, `[]`, `{"address":"10.0.0.1"}`, `{"address":"10.0.0.1","port":0}`,
		`{"address":"10.0.0.1","port":65536}`, `{"address":"","port":80}`, `{"address":"a/b","port":80}`,
		`{"address":"10.0.0.1","port":"80"}`, `{"address":"10.0.0.1","port":80.5}`,
		"{\"address\":\"10.0.0.\xff\",\"port\":80}",
		`{"address":"10.0.0.1","port":80,"payload":{"metadata":{"k":"` + strings.Repeat("v", maxNodeData) + `"}}}`,
	} {
		if r, err := decodeCurator("n", []byte(data)); err == nil {
			t.Errorf("decodeCurator(%.80q) = %+v; want an error", data, r)
		}
	}
}

func TestDecodeCuratorBadUTF8(t *testing.T) {
	r, err := decodeCurator("n", []byte("{\"address\":\"10.0.0.1\",\"port\":80,\"payload\":{\"metadata\":{\"ok\":\"1\",\"bad\":\"\xff\",\"\xfe\":\"v\"}}}"))
	if err != nil {
		t.Fatal(err)
	}
	set, dropped := Config{}.withDefaults().toSet(LayoutCurator, []record{r})
	if dropped != 2 || len(set.Instances[0].Metadata) != 1 {
		t.Fatalf("metadata = %v, dropped %d", set.Instances[0].Metadata, dropped)
	}
}
