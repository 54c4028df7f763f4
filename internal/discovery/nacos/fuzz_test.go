package nacos

import (
	"net"
	"testing"
	"unicode/utf8"

	"pylon.io/pylon/internal/discovery"
)

func FuzzDecodeList(f *testing.F) {
	f.Add([]byte(`{"name":"DEFAULT_GROUP@@a","checksum":"x","lastRefTime":1,"hosts":[{"ip":"10.0.0.1","port":8080,"weight":1.5,"healthy":true,"enabled":true,"clusterName":"DEFAULT","metadata":{"tags":"a,b"}}]}`))
	f.Add([]byte(`{"hosts":[{"ip":"::1","port":70000,"weight":-1}]}`))
	f.Add([]byte(`{"hosts":null}`))
	f.Add([]byte("{\"hosts\":[{\"ip\":\"1.2.3.4\",\"port\":1,\"metadata\":{\"\xff\":\"v\"}}]}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, set, _, err := decodeList(body, Config{}.withDefaults())
		if err != nil {
			return
		}
		if len(set.Instances) > discovery.MaxInstances {
			t.Fatalf("%d instances", len(set.Instances))
		}
		for _, in := range set.Instances {
			if _, _, err := net.SplitHostPort(in.Address); err != nil {
				t.Fatalf("address %q: %v", in.Address, err)
			}
			if in.Weight < 1 {
				t.Fatalf("weight %d", in.Weight)
			}
			for k, v := range in.Metadata {
				if !utf8.ValidString(k) || !utf8.ValidString(v) {
					t.Fatalf("metadata %q=%q is not UTF-8", k, v)
				}
			}
		}
	})
}
