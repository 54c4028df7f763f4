package zookeeper

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// A Curator x-discovery instance node holds the JSON of a ServiceInstance,
// as Spring Cloud Zookeeper writes it:
//
//	{"name":"orders","id":"5c1f…","address":"10.0.0.1","port":8080,"sslPort":null,
//	 "payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance",
//	            "id":"orders-1","name":"orders","metadata":{"instance_status":"UP","zone":"z1"}},
//	 "registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":{…}}
//
// Curator 4 and later may also write "enabled" (CURATOR-275).
type curatorInstance struct {
	Address string          `json:"address"`
	Port    *int            `json:"port"`
	SSLPort *int            `json:"sslPort"`
	Payload json.RawMessage `json:"payload"`
	Enabled *bool           `json:"enabled"`
}

// statusKey is the metadata key Spring Cloud Zookeeper keeps an instance's
// status in; its load balancer serves only instances without one or "UP".
const statusKey = "instance_status"

// decodeCurator reads an instance node's data.
func decodeCurator(node string, data []byte) (record, error) {
	if len(data) > maxNodeData {
		return record{}, fmt.Errorf("%d bytes is over the bound of %d", len(data), maxNodeData)
	}
	var ci curatorInstance
	if err := json.Unmarshal(data, &ci); err != nil {
		return record{}, fmt.Errorf("not a ServiceInstance: %w", err)
	}
	if !validHost(ci.Address) {
		return record{}, errors.New("no valid address")
	}
	// An instance with only an sslPort is reached there; which protocol to
	// speak is the service's upstream setting.
	port := ci.Port
	if port == nil {
		port = ci.SSLPort
	}
	if port == nil || *port < 1 || *port > 65535 {
		return record{}, errors.New("no port in 1-65535")
	}
	r := record{node: node, host: ci.Address, port: *port, params: payloadMetadata(ci.Payload)}
	st := r.params[statusKey]
	r.enabled = (ci.Enabled == nil || *ci.Enabled) && (st == "" || strings.EqualFold(st, "UP"))
	return r, nil
}

// payloadMetadata returns the string entries of the payload's "metadata"
// object: Spring Cloud's ZookeeperInstance has one, Dubbo 3's as well. A
// payload of another shape has none.
func payloadMetadata(p json.RawMessage) map[string]string {
	var pl struct {
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if len(p) == 0 || json.Unmarshal(p, &pl) != nil || len(pl.Metadata) == 0 {
		return nil
	}
	out := make(map[string]string, len(pl.Metadata))
	for k, raw := range pl.Metadata {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			out[k] = s
		}
	}
	return out
}
