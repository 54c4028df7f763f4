package plugin

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Family is a counter metric of a plugin's own (pylon_waf_bypass_requests_total),
// for outcomes its users watch directly rather than among every plugin's
// pylon_plugin_events_total. Its series are labelled by the instance's
// scope and by one label of the family's; like events, a series appears
// once it has counted.
type Family struct {
	name, label string
	desc        *prometheus.Desc
}

var (
	famMu    sync.Mutex
	families []*Family
	famName  = regexp.MustCompile(`^pylon_[a-z0-9_]+_total$`)
)

// NewFamily declares a counter family, at init(): the plugins' collector
// describes every family declared before it is registered. name must be
// pylon_…_total and unique; label names the family's own label
// ("outcome", "reason"). It panics on a bad or repeated name, a
// programming error every test catches.
func NewFamily(name, help, label string) *Family {
	famMu.Lock()
	defer famMu.Unlock()
	if !famName.MatchString(name) || name == eventsName || name == panicsName {
		panic(fmt.Sprintf("plugin: metric family %q: must be pylon_…_total, of lowercase letters, digits and _", name))
	}
	for _, f := range families {
		if f.name == name {
			panic(fmt.Sprintf("plugin: metric family %q declared twice", name))
		}
	}
	f := &Family{name: name, label: label, desc: prometheus.NewDesc(name, help, []string{"scope", label}, nil)}
	families = append(families, f)
	return f
}

// Name returns the family's metric name.
func (f *Family) Name() string { return f.name }

// FamilyCounter returns the instance's counter for value in family f,
// exported as f's name{scope, label=value}. Take counters at build time:
// the lookup locks.
func (e *Env) FamilyCounter(f *Family, value string) *Counter {
	return e.rt.metrics.familyCounter(f, e.Scope.String(), value)
}

type familyKey struct {
	f            *Family
	scope, value string
}

func (m *Metrics) familyCounter(f *Family, scope, value string) *Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := familyKey{f, scope, value}
	c := m.byFamily[k]
	if c == nil {
		c = &Counter{}
		m.byFamily[k] = c
	}
	return c
}

func describeFamilies(ch chan<- *prometheus.Desc) {
	famMu.Lock()
	defer famMu.Unlock()
	for _, f := range families {
		ch <- f.desc
	}
}

// collectFamilies sends the families' counters that counted; the caller
// holds m.mu.
func (m *Metrics) collectFamilies(ch chan<- prometheus.Metric) {
	for k, c := range m.byFamily {
		if v := c.Value(); v != 0 {
			ch <- constCounter(k.f.desc, v, k.scope, k.value)
		}
	}
}
