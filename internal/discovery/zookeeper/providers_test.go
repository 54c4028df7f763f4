package zookeeper_test

import (
	"strings"
	"testing"

	"pylon.io/pylon/internal/discovery/providers"
	"pylon.io/pylon/internal/discovery/zookeeper"
	"pylon.io/pylon/internal/ir"
)

// The discovery list selects the kind by its block, and checks it and the
// services' queries with this package.
func TestProvidersList(t *testing.T) {
	list := []providers.Config{{Name: "zk", ZooKeeper: &zookeeper.Config{Servers: []string{"nope"}}}}
	if err := providers.Validate(list); err == nil || !strings.Contains(err.Error(), "discovery[0].zookeeper.servers[0]") {
		t.Fatalf("Validate = %v", err)
	}
	list[0].ZooKeeper.Servers = []string{"127.0.0.1:2181"}
	if err := providers.Validate(list); err != nil {
		t.Fatal(err)
	}
	err := providers.CheckService(list, "services[0].discovery", &ir.ServiceDiscovery{Provider: "zk", Path: "orders"})
	if err == nil || !strings.Contains(err.Error(), "services[0].discovery: zookeeper: query for path \"orders\": layout is required") {
		t.Fatalf("CheckService = %v", err)
	}
	if err := providers.CheckService(list, "s", &ir.ServiceDiscovery{Provider: "zk", Path: "orders", Layout: "curator"}); err != nil {
		t.Fatal(err)
	}
}
