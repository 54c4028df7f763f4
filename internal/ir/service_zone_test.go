package ir

import (
	"strings"
	"testing"
)

// TestZoneFieldsDecodeAndValidate: endpoints carry zone, node and hints,
// the service trafficDistribution and zoneAware; bad values are reported
// at their field.
func TestZoneFieldsDecodeAndValidate(t *testing.T) {
	r, err := DecodeJSON(KindService, []byte(`{"name":"s","trafficDistribution":"PreferSameNode",
		"zoneAware":{"minHealthyShare":0.7,"maxLoadFactor":0},
		"endpoints":[{"address":"10.0.0.1:80","zone":"eu-1a","node":"n1","forZones":["eu-1a"],"forNodes":["n1"]},"10.0.0.2:80"]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := r.(*Service)
	if e := s.Endpoints[0]; e.Zone != "eu-1a" || e.Node != "n1" || e.ForZones[0] != "eu-1a" || e.ForNodes[0] != "n1" {
		t.Errorf("endpoint: %+v", e)
	}
	if z := s.ZoneAware; z == nil || *z.MinHealthyShare != 0.7 || z.MaxLoadFactor == nil || *z.MaxLoadFactor != 0 {
		t.Errorf("zoneAware: %+v", z)
	}
	share, factor := 1.5, 0.5
	bad := &Service{Name: "s", TrafficDistribution: "PreferSameRegion", ZoneAware: &ZoneAware{MinHealthyShare: &share, MaxLoadFactor: &factor},
		Endpoints: []Endpoint{{Address: "10.0.0.1:80", Zone: "eu 1a", ForZones: []string{""}, Node: strings.Repeat("n", 254)}}}
	err = bad.Validate()
	for _, want := range []string{
		`trafficDistribution: must be PreferSameZone, PreferSameNode or PreferClose (got "PreferSameRegion")`,
		"zoneAware.minHealthyShare: must be between 0 and 1 (got 1.5)",
		"zoneAware.maxLoadFactor: must be 0 (off) or between 1 and 1000 (got 0.5)",
		`endpoints[0].zone: must be 1-63 printable ASCII characters without spaces (got "eu 1a")`,
		"endpoints[0].node: must be 1-253",
		`endpoints[0].forZones[0]: must be 1-63`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to say %q", err, want)
		}
	}
	for _, td := range []string{"", TrafficPreferClose, TrafficPreferSameZone, TrafficPreferSameNode} {
		ok := &Service{Name: "s", TrafficDistribution: td, Endpoints: []Endpoint{{Address: "10.0.0.1:80"}}}
		if err := ok.Validate(); err != nil {
			t.Errorf("%q: %v", td, err)
		}
	}
}
