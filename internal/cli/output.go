package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/ir"
)

// sectionOf is the config files' top-level key of each kind. `get -o
// yaml|json` prints objects under it, so that what it prints is a config
// file: `apply -f` and `run --config` take it unchanged, one object or a
// list (as kubectl's output goes back into kubectl apply).
var sectionOf = map[ir.Kind]string{
	ir.KindListener:          "listeners",
	ir.KindService:           "services",
	ir.KindRoute:             "routes",
	ir.KindCertificate:       "certificates",
	ir.KindHostPolicy:        "hostPolicies",
	ir.KindConsumer:          "consumers",
	ir.KindGlobalPlugin:      "plugins",
	ir.KindDiscoveryProvider: "discovery",
}

func checkOutput(output string) error {
	switch output {
	case "", "yaml", "json":
		return nil
	}
	return fmt.Errorf("unknown output format %q (want yaml or json)", output)
}

// printObjects prints items of kind as a table, or as a config file.
func printObjects(w io.Writer, output string, kind ir.Kind, items []envelope) error {
	section, ok := sectionOf[kind]
	if !ok {
		return fmt.Errorf("kind %q has no config file section", kind)
	}
	switch output {
	case "json":
		objs := make([]json.RawMessage, 0, len(items))
		for _, e := range items {
			objs = append(objs, e.Object)
		}
		b, err := json.MarshalIndent(map[string]any{section: objs}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		objs := make([]ir.Resource, 0, len(items))
		for _, e := range items {
			r, err := ir.DecodeJSON(kind, e.Object)
			if err != nil {
				return fmt.Errorf("%s %q from the admin API: %w", kind, e.name(), err)
			}
			objs = append(objs, r)
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(map[string]any{section: objs}); err != nil {
			return err
		}
		if err := enc.Close(); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tVERSION\tSUMMARY")
	for _, e := range items {
		r, err := ir.DecodeJSON(kind, e.Object)
		if err != nil {
			return fmt.Errorf("%s %q from the admin API: %w", kind, e.name(), err)
		}
		v := "-" // never written through the API
		if e.Version > 0 {
			v = strconv.FormatInt(e.Version, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.name(), e.Source, v, summary(r))
	}
	return tw.Flush()
}

func summary(r ir.Resource) string {
	switch o := r.(type) {
	case *ir.Route:
		hosts := strings.Join(o.Hosts, ",")
		if hosts == "" {
			hosts = "*"
		}
		var to []string
		for _, b := range o.Backends {
			to = append(to, b.Service)
		}
		return fmt.Sprintf("hosts=%s → %s", hosts, strings.Join(to, ","))
	case *ir.Service:
		var eps []string
		for _, e := range o.Endpoints {
			eps = append(eps, e.Address)
		}
		return strings.Join(eps, ",")
	case *ir.Listener:
		return o.Protocol + " " + o.Address
	case *ir.Certificate:
		return strings.Join(o.SNI, ",")
	}
	return ""
}
