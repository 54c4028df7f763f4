package nacos

import (
	"encoding/json"
	"testing"

	"github.com/nacos-group/nacos-sdk-go/v2/common/remote/rpc/rpc_request"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/discovery/discoverytest"
)

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
		discoverytest.CheckSet(t, p.toSet(discovery.Query{Name: "orders"}, req.ServiceInfo.Hosts))
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
		discoverytest.CheckSet(t, set)
	})
}
