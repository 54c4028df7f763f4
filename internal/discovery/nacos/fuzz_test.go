package nacos

import (
	"encoding/json"
	"net"
	"testing"
	"unicode/utf8"

	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_request"

	"pylon.io/pylon/internal/discovery"
)

// checkSet fails on a set the mapping must never make.
func checkSet(t *testing.T, set discovery.Set) {
	t.Helper()
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
		for _, tag := range in.Tags {
			if !utf8.ValidString(tag) {
				t.Fatalf("tag %q is not UTF-8", tag)
			}
		}
	}
}

// FuzzPushedServiceInfo decodes what a v2 server pushes (the body of a
// NotifySubscriberRequest) as the SDK decodes it, then maps it as the v2
// provider does.
func FuzzPushedServiceInfo(f *testing.F) {
	f.Add([]byte(`{"requestId":"1","namespace":"public","serviceName":"orders","groupName":"shop","module":"naming","serviceInfo":{"name":"orders","groupName":"shop","clusters":"","cacheMillis":10000,"lastRefTime":1,"valid":true,"hosts":[{"instanceId":"x","ip":"10.0.0.1","port":8080,"weight":2.5,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"east","serviceName":"shop@@orders","metadata":{"tags":"a,b","zone":"az1"}}]}}`))
	f.Add([]byte(`{"serviceInfo":{"hosts":[{"ip":"::1","port":18446744073709551615,"weight":1e308,"healthy":true,"enabled":true}]}}`))
	f.Add([]byte(`{"serviceInfo":{"hosts":[{"ip":"1.2.3.4","port":65536,"weight":-1},{"ip":"","port":80}]}}`))
	f.Add([]byte("{\"serviceInfo\":{\"hosts\":[{\"ip\":\"1.2.3.4\",\"port\":1,\"metadata\":{\"\xff\":\"v\",\"tags\":\"\xfe,ok\"}}]}}"))
	f.Add([]byte(`{"serviceInfo":{"hosts":null}}`))
	p := &grpcProvider{cfg: Config{}.withDefaults(), log: quiet}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := rpc_request.NotifySubscriberRequest{NamingRequest: &rpc_request.NamingRequest{}}
		if err := json.Unmarshal(body, &req); err != nil {
			return
		}
		checkSet(t, p.toSet(discovery.Query{Name: "orders"}, req.ServiceInfo.Hosts))
	})
}

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
		checkSet(t, set)
	})
}
