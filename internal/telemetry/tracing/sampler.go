package tracing

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Sampler decides which requests get spans: ParentBased(TraceIDRatio) by
// default. With ParentBased, a request whose parent made a decision
// follows it (a sampled parent is always kept, as Traefik did not until
// PR #12403); a new trace, or a B3 parent that deferred, is kept when its
// trace id falls in the ratio, so every node of a trace decides alike.
type Sampler struct {
	Ratio       float64
	ParentBased bool
}

// Sample decides for a request with trace id tid and parent p (nil for a
// new trace). ratio, when 0 or more, replaces the sampler's ratio (a
// route's own).
func (s Sampler) Sample(p *Parent, tid [16]byte, ratio float64) bool {
	if s.ParentBased && p != nil && !p.Deferred {
		return p.Sampled
	}
	if ratio < 0 {
		ratio = s.Ratio
	}
	return ratioKeeps(tid, ratio)
}

// ratioKeeps is OpenTelemetry's TraceIDRatioBased test: the trace id's
// low 63 bits below ratio × 2^63.
func ratioKeeps(tid [16]byte, ratio float64) bool {
	switch {
	case ratio >= 1:
		return true
	case ratio <= 0:
		return false
	}
	bound := uint64(ratio * (1 << 63))
	return binary.BigEndian.Uint64(tid[8:16])>>1 < bound
}

// defaultRatio is the share of new traces kept when neither the config
// nor the environment says: a gateway sees every request of a platform.
const defaultRatio = 0.01

func (c *Config) sampler(env func(string) string) (Sampler, error) {
	s := Sampler{Ratio: defaultRatio, ParentBased: true}
	if c.ParentBased != nil {
		s.ParentBased = *c.ParentBased
	}
	if c.SampleRatio != nil {
		r := *c.SampleRatio
		if math.IsNaN(r) || r < 0 || r > 1 {
			return s, fmt.Errorf("must be between 0 and 1 (got %v)", r)
		}
		s.Ratio = r
		return s, nil
	}
	arg := func(def float64) (float64, error) {
		v := env("OTEL_TRACES_SAMPLER_ARG")
		if v == "" {
			return def, nil
		}
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(r) || r < 0 || r > 1 {
			return def, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG must be between 0 and 1 (got %q)", v)
		}
		return r, nil
	}
	var err error
	switch name := env("OTEL_TRACES_SAMPLER"); name {
	case "":
	case "always_on", "parentbased_always_on":
		s.Ratio = 1
		s.ParentBased = c.ParentBased == nil && name != "always_on" || c.ParentBased != nil && *c.ParentBased
	case "always_off", "parentbased_always_off":
		s.Ratio = 0
		s.ParentBased = c.ParentBased == nil && name != "always_off" || c.ParentBased != nil && *c.ParentBased
	case "traceidratio", "parentbased_traceidratio":
		s.Ratio, err = arg(1)
		s.ParentBased = c.ParentBased == nil && name != "traceidratio" || c.ParentBased != nil && *c.ParentBased
	default:
		return s, fmt.Errorf("OTEL_TRACES_SAMPLER: unknown sampler %q (known: always_on, always_off, traceidratio and their parentbased_ forms)", name)
	}
	return s, err
}
