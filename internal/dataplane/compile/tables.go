package compile

import (
	"runtime"
	"sync"

	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/dataplane/router"
)

// hostsPerWorker is the least number of host tables worth a goroutine.
const hostsPerWorker = 1024

// hostTables compiles the tables of the given hosts. A change touching many
// hosts (a first load, a resync) compiles them on every core: a table is
// built from the routes of its own host alone, and Apply holds c.mu, so the
// indexes it reads do not change meanwhile.
func (c *Compiler) hostTables(hosts map[string]struct{}) map[string]*router.HostTable[*proxy.Route] {
	tables := make(map[string]*router.HostTable[*proxy.Route], len(hosts))
	workers := min(runtime.GOMAXPROCS(0), len(hosts)/hostsPerWorker)
	if workers < 2 {
		for h := range hosts {
			tables[h] = c.hostTable(h)
		}
		return tables
	}
	keys := make([]string, 0, len(hosts))
	for h := range hosts {
		keys = append(keys, h)
	}
	out := make([]*router.HostTable[*proxy.Route], len(keys))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(keys); i += workers {
				out[i] = c.hostTable(keys[i])
			}
		})
	}
	wg.Wait()
	for i, h := range keys {
		tables[h] = out[i]
	}
	return tables
}

// reserve sizes the indexes for a change of n upserts, when that is many more
// objects than they hold: filling them one by one from a first load of
// 100,000 routes rehashed each map over and over, and every old table
// is garbage the collector must then find.
func (c *Compiler) reserve(n int) {
	if n < 4*len(c.objs) || n < hostsPerWorker {
		return
	}
	c.objs = grown(c.objs, n)
	c.byRef = grown(c.byRef, n)
	c.routes = grown(c.routes, n)
	c.hosts = grown(c.hosts, n)
}

// grown returns a copy of m with room for n more entries.
func grown[K comparable, V any](m map[K]V, n int) map[K]V {
	out := make(map[K]V, len(m)+n)
	for k, v := range m {
		out[k] = v
	}
	return out
}
