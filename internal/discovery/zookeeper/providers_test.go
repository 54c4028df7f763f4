package zookeeper_test

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/discovery/providers"
	"pylon.io/pylon/internal/ir"
)

// A DiscoveryProvider selects the kind by its block, and checks it and the
// services' queries with this package.
func TestProvidersList(t *testing.T) {
	obj := &ir.DiscoveryProvider{Name: "zk", ZooKeeper: map[string]any{"servers": []any{"nope"}}}
	if _, err := providers.FromObject(obj); err == nil || !strings.Contains(err.Error(), `discoveryprovider "zk": zookeeper.servers[0]`) {
		t.Fatalf("FromObject = %v", err)
	}
	obj.ZooKeeper["servers"] = []any{"127.0.0.1:2181"}
	c, err := providers.FromObject(obj)
	if err != nil || c.ZooKeeper == nil || c.ZooKeeper.Servers[0] != "127.0.0.1:2181" {
		t.Fatalf("FromObject = %+v, %v", c, err)
	}
	err = providers.CheckQuery(obj, &ir.ServiceDiscovery{Provider: "zk", Path: "orders"})
	if err == nil || !strings.Contains(err.Error(), "zookeeper: query for path \"orders\": layout is required") {
		t.Fatalf("CheckQuery = %v", err)
	}
	if err := providers.CheckQuery(obj, &ir.ServiceDiscovery{Provider: "zk", Path: "orders", Layout: "curator"}); err != nil {
		t.Fatal(err)
	}
}
