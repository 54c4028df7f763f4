package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"sort"
	"time"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/file"
	"pylon.io/pylon/internal/telemetry"
)

// listenOps binds the ops address (metrics, health, profiles) without
// serving yet: Run does it before any store opens, so a bad address fails
// the start at once.
func listenOps(addr string, metrics *telemetry.Metrics) (*telemetry.OpsServer, error) {
	ops := telemetry.NewOpsServer(addr, metrics)
	// Profiles on the ops address (loopback by default), for finding what
	// limits a busy gateway in production as in benchmarks.
	ops.HandleFunc("/debug/pprof/", pprof.Index)
	ops.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ops.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if err := ops.Listen(); err != nil {
		return nil, err
	}
	return ops, nil
}

// configStatus serves /debug/config: the config version, the last change's
// compile and propagation times, and every rejected object, both those the
// file source could not read (src may be nil) and those the compile stage
// refused.
func configStatus(c *compile.Compiler, src *file.Source) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeConfigStatus(w, c, src) }
}

func writeConfigStatus(w http.ResponseWriter, c *compile.Compiler, src *file.Source) {
	st := c.Stats()
	rej := c.Rejected()
	type rejected struct {
		Object string `json:"object"`
		Error  string `json:"error"`
	}
	out := struct {
		Version         uint64         `json:"version"`
		LastApplied     time.Time      `json:"lastApplied"`
		LastCompileMs   float64        `json:"lastCompileMs"`
		LastPropagateMs float64        `json:"lastPropagateMs"`
		HostsTouched    int            `json:"hostsTouched"`
		Objects         map[string]int `json:"objects"` // live objects by kind
		Rejected        []rejected     `json:"rejected"`
	}{st.Version, st.LastApplied, ms(st.LastCompile), ms(st.LastPropagate), st.HostsTouched, c.Counts(), []rejected{}}
	for k, err := range rej {
		out.Rejected = append(out.Rejected, rejected{k.String(), err.Error()})
	}
	if src != nil {
		for _, err := range src.Problems() {
			var fe *ir.FieldError
			obj := ""
			if errors.As(err, &fe) && fe.Kind != "" {
				obj = ir.Key{Kind: fe.Kind, Source: "file", Namespace: "default", Name: fe.Name}.String()
			} else if e := (*file.Error)(nil); errors.As(err, &e) {
				obj = e.File
			}
			out.Rejected = append(out.Rejected, rejected{obj, err.Error()})
		}
	}
	sort.Slice(out.Rejected, func(i, j int) bool { return out.Rejected[i].Object < out.Rejected[j].Object })
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
