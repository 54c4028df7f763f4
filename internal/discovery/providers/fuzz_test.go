package providers

import (
	"encoding/json"
	"reflect"
	"testing"

	"pylon.io/pylon/internal/ir"
)

// FuzzFromObject: any admin API body for a discovery provider decodes to
// a checked Config or to field errors naming the object, never a panic. A
// Config it gives has the object's one block, and reads back the same when
// written out as a body again (what GET returns and PUT takes).
func FuzzFromObject(f *testing.F) {
	f.Add([]byte(`{"name":"local-dns","dns":{"servers":["127.0.0.1:5353"],"minTTL":"1s"}}`))
	f.Add([]byte(`{"name":"c","consul":{"servers":["127.0.0.1:8500"],"waitTime":"200ms","token":"x"}}`))
	f.Add([]byte(`{"name":"n","nacos":{"servers":["[::1]:8848"],"api":"v2"}}`))
	f.Add([]byte(`{"name":"z","zookeeper":{"servers":["127.0.0.1:2181"],"sessionTimeout":5}}`))
	f.Add([]byte(`{"name":"e","eureka":{"servers":["http://127.0.0.1:8761/eureka"]},"dns":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ir.DecodeJSON(ir.KindDiscoveryProvider, data)
		if err != nil {
			return
		}
		p := r.(*ir.DiscoveryProvider)
		c, err := FromObject(p)
		if err != nil {
			for _, fe := range ir.FieldErrors(err) {
				if fe.Kind != ir.KindDiscoveryProvider || fe.Name != p.Name {
					t.Fatalf("an error that does not name the object: %v", fe)
				}
			}
			return
		}
		block, _ := p.Block()
		if k := c.kind(); k == nil || k.name != block || c.Name != p.Name {
			t.Fatalf("Config %+v from %s", c, data)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ir.DecodeJSON(ir.KindDiscoveryProvider, again)
		if err != nil {
			t.Fatalf("the Config written out does not decode: %v\n%s", err, again)
		}
		c2, err := FromObject(r2.(*ir.DiscoveryProvider))
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip: %+v, %v; want %+v\n%s", c2, err, c, again)
		}
	})
}
