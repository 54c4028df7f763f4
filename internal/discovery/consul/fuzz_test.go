package consul

import (
	"testing"

	"pylon.io/pylon/internal/discovery/discoverytest"
)

func FuzzDecodeEntries(f *testing.F) {
	f.Add([]byte(`[{"Node":{"Node":"n1","Address":"10.0.0.1","Meta":{"zone":"az1"}},"Service":{"ID":"o1","Service":"orders","Tags":["gray"],"Address":"","Meta":{"v":"2"},"Port":8080,"Weights":{"Passing":3,"Warning":1}},"Checks":[{"CheckID":"serfHealth","Status":"passing"},{"CheckID":"service:o1","Status":"warning"}]}]`))
	f.Add([]byte(`[{"Node":{"Address":"::1"},"Service":{"Address":"[fd00::1]","Port":0,"Weights":{"Passing":0,"Warning":0}},"Checks":[{"CheckID":"_node_maintenance","Status":"critical"}]}]`))
	f.Add([]byte(`[null,{"Service":{"Port":70000,"Address":"h/x"}},{}]`))
	f.Add([]byte("[{\"Node\":{\"Address\":\"10.0.0.2\"},\"Service\":{\"Port\":1,\"Meta\":{\"\xff\":\"v\"},\"Tags\":[\"\xfe\"]}}]"))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeEntries(body, mapping{zoneKey: "zone", port: 8080})
		if err != nil {
			return
		}
		discoverytest.CheckSet(t, d.set)
		seen := map[string]bool{}
		for i, in := range d.set.Instances {
			if seen[in.Address] {
				t.Fatalf("address %q twice", in.Address)
			}
			seen[in.Address] = true
			if i > 0 && d.set.Instances[i-1].Address > in.Address {
				t.Fatalf("not sorted: %q before %q", d.set.Instances[i-1].Address, in.Address)
			}
			if in.Weight > maxWeight {
				t.Fatalf("weight %d", in.Weight)
			}
		}
	})
}
