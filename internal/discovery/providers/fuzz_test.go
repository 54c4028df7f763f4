package providers

import (
	"testing"

	"pylon.io/pylon/internal/ir"
)

// FuzzFromObject: any admin API body for a discovery provider decodes to
// a checked Config or to field errors naming the object, never a panic;
// a Config it gives has exactly the object's one block, and passes its
// kind's check again.
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
		k := c.kind()
		if k == nil || k.name != p.Blocks()[0] || len(p.Blocks()) != 1 || c.Name != p.Name {
			t.Fatalf("Config %+v from %s", c, data)
		}
		if err := k.valid(&c, k.name); err != nil {
			t.Fatalf("a checked Config fails its check: %v", err)
		}
	})
}
