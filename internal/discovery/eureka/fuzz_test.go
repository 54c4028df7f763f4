package eureka

import (
	"testing"

	"pylon.io/pylon/internal/discovery/discoverytest"
)

func FuzzDecodeApps(f *testing.F) {
	f.Add([]byte(`{"applications":{"versions__delta":"1","apps__hashcode":"UP_1_","application":[{"name":"A","instance":[{"instanceId":"i","app":"A","ipAddr":"10.0.0.1","status":"UP","port":{"$":80,"@enabled":"true"},"securePort":{"$":443,"@enabled":"true"},"metadata":{"tags":"x,y"},"actionType":"ADDED"}]}]}}`))
	f.Add([]byte(`{"applications":{"application":{"name":"A","instance":{"hostName":"h","port":{"$":99999}}}}}`))
	f.Add([]byte(`{"applications":{"application":[]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		reg, _, err := decodeApps(body)
		if err != nil {
			return
		}
		for _, secure := range []bool{false, true} {
			set, _ := toSet(reg, "a", secure, "tags")
			discoverytest.CheckSet(t, set)
		}
	})
}
