package zookeeper

import (
	"net"
	"testing"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/discoverytest"
)

// checkSet holds what any decoded set must hold, whatever the nodes said:
// the invariants of every provider, a host a ZooKeeper node may name, and
// the weight bound.
func checkSet(t *testing.T, set discovery.Set) {
	t.Helper()
	discoverytest.CheckSet(t, set)
	for _, in := range set.Instances {
		if host, _, _ := net.SplitHostPort(in.Address); !validHost(host) {
			t.Fatalf("address %q: host", in.Address)
		}
		if in.Weight > 1_000_000 {
			t.Fatalf("weight %d", in.Weight)
		}
	}
}

func FuzzDecodeDubbo(f *testing.F) {
	f.Add("dubbo%3A%2F%2F10.0.0.1%3A20880%2Forg.apache.dubbo.demo.DemoService%3Fanyhost%3Dtrue%26weight%3D200%26dubbo.tag%3Dgray%26zone%3Daz1")
	f.Add("tri%3A%2F%2F%5Bfe80%3A%3A1%5D%3A50051%2FI%3Fdisabled%3Dtrue")
	f.Add("dubbo%3A%2F%2F0%3A0%3A0%3A0%3A0%3A0%3A0%3A1%3A20880%2FI%3Fdefault.weight%3D-5")
	f.Add("dubbo%3A%2F%2Fu%3Ap%40h%3A1%2F%3F%26%3D%3B%ff")
	f.Add("a+b%")
	f.Fuzz(func(t *testing.T, name string) {
		r, err := decodeDubbo(name)
		if err != nil {
			return
		}
		set, _ := Config{}.withDefaults().toSet(LayoutDubbo, []record{r, r})
		if len(set.Instances) != 1 {
			t.Fatalf("a node twice made %d instances", len(set.Instances))
		}
		checkSet(t, set)
	})
}

func FuzzDecodeCurator(f *testing.F) {
	f.Add([]byte(`{"name":"orders","id":"a","address":"10.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance","id":"orders-1","name":"orders","metadata":{"instance_status":"UP","tags":"gray,v2","zone":"z1","weight":"3"}},"registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC"}`))
	f.Add([]byte(`{"address":"::1","sslPort":443,"enabled":false,"payload":{"metadata":{"n":1,"weight":"99999999999"}}}`))
	f.Add([]byte(`{"address":"h","port":-1,"payload":"x"}`))
	f.Add([]byte("{\"address\":\"10.0.0.1\",\"port\":1,\"payload\":{\"metadata\":{\"\xff\":\"v\"}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeCurator("n", data)
		if err != nil {
			return
		}
		set, _ := Config{}.withDefaults().toSet(LayoutCurator, []record{r})
		checkSet(t, set)
	})
}
