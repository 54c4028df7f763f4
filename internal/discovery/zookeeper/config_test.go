package zookeeper

import (
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/ir"
)

func TestValidate(t *testing.T) {
	err := Config{
		Servers:        []string{"127.0.0.1:2181", "zk-2", "zk-3:0", ":2181"},
		SessionTimeout: ir.Duration(100 * time.Millisecond),
		Root:           "dubbo/",
		Auth:           ":s3cret-pw",
		PollInterval:   -1,
	}.Validate("discovery[4].zookeeper")
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{
		`discovery[4].zookeeper.servers[1]: "zk-2" is not host:port`,
		`discovery[4].zookeeper.servers[2]: "zk-3:0" needs a host and a port in 1-65535`,
		`discovery[4].zookeeper.servers[3]: ":2181" needs a host`,
		`discovery[4].zookeeper.sessionTimeout: must be at least 1s`,
		`discovery[4].zookeeper.root: "dubbo/": must start with /`,
		`discovery[4].zookeeper.auth: must be user:password`,
		`discovery[4].zookeeper.pollInterval: must not be negative`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error\n%v\ndoes not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Validate error shows the auth value: %v", err)
	}
	if strings.Contains(err.Error(), "servers[0]") {
		t.Errorf("Validate rejected a good server: %v", err)
	}
	for _, root := range []string{"/a//b", "/a/", "/a/../b", "/a/\x01"} {
		if err := (Config{Servers: []string{"h:1"}, Root: root}).Validate("z"); err == nil || !strings.Contains(err.Error(), "z.root") {
			t.Errorf("root %q: Validate = %v", root, err)
		}
	}
	if err := (Config{Servers: []string{"zk-1.internal:2181", "[::1]:2181"}, Root: "/", Auth: "u:p"}).Validate("z"); err != nil {
		t.Errorf("good config rejected: %v", err)
	}
	if err := (Config{}).Validate("z"); err == nil || !strings.Contains(err.Error(), "z.servers: at least one server") {
		t.Errorf("no servers: Validate = %v", err)
	}
}

func TestCheckQuery(t *testing.T) {
	for _, tc := range []struct {
		q    discovery.Query
		want string // "" for accepted
	}{
		{discovery.Query{Path: "org.apache.dubbo.demo.DemoService", Layout: "dubbo"}, ""},
		{discovery.Query{Path: "orders", Layout: "curator"}, ""},
		{discovery.Query{Path: "Outer$Inner", Layout: "dubbo"}, ""},
		{discovery.Query{Layout: "dubbo"}, "path is required"},
		{discovery.Query{Path: "orders"}, "layout is required"},
		{discovery.Query{Path: "orders", Layout: "nacos"}, `layout "nacos" is not one of dubbo, curator`},
		{discovery.Query{Path: "a/b", Layout: "curator"}, "one node, without /"},
		{discovery.Query{Path: "..", Layout: "curator"}, `"." or ".."`},
		{discovery.Query{Path: "a\x00", Layout: "dubbo"}, "control characters"},
		{discovery.Query{Path: "orders", Layout: "curator", Group: "g"}, "only path and layout apply"},
		{discovery.Query{Path: "orders", Layout: "curator", Name: "orders"}, "only path and layout apply"},
		{discovery.Query{Path: "orders", Layout: "curator", Port: 80}, "only path and layout apply"},
	} {
		err := Check(tc.q)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%+v) = %v", tc.q, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%+v) = %v; want %q", tc.q, err, tc.want)
		}
	}
}

func TestServicePath(t *testing.T) {
	for _, tc := range []struct {
		root string
		q    discovery.Query
		want string
	}{
		{"", discovery.Query{Path: "org.apache.dubbo.demo.DemoService", Layout: "dubbo"}, "/dubbo/org.apache.dubbo.demo.DemoService/providers"},
		{"/shop", discovery.Query{Path: "a.B$C", Layout: "dubbo"}, "/shop/a.B%24C/providers"},
		{"/", discovery.Query{Path: "a.B", Layout: "dubbo"}, "/a.B/providers"},
		{"", discovery.Query{Path: "orders", Layout: "curator"}, "/services/orders"},
		{"/apps/prod", discovery.Query{Path: "orders", Layout: "curator"}, "/apps/prod/orders"},
	} {
		if got := (Config{Root: tc.root}).servicePath(tc.q); got != tc.want {
			t.Errorf("root %q, %+v: %s; want %s", tc.root, tc.q, got, tc.want)
		}
	}
}
