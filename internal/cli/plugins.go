package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"pylon.io/pylon/internal/plugin"
)

func pluginsCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "plugins [NAME]",
		Short: "List the built-in plugins in execution order, or describe one (-o json for its config schema)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				d, ok := plugin.Lookup(args[0])
				if !ok {
					return fmt.Errorf("no plugin %q (pylon plugins lists them)", args[0])
				}
				if output == "json" {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					return enc.Encode(map[string]any{"name": d.Name, "summary": d.Summary, "phases": d.Phases,
						"position": d.Position, "order": plugin.OrderReason(d.Name), "schema": d.Schema})
				}
				fmt.Fprintf(out, "%s: %s\nphases: %s\nposition %d: %s\nconfig fields:\n", d.Name, d.Summary,
					strings.Join(d.Phases, ", "), d.Position, plugin.OrderReason(d.Name))
				writeFields(out, d.Schema, "  ")
				return nil
			}
			all := plugin.All()
			if output == "json" {
				var items []map[string]any
				for _, d := range all {
					items = append(items, map[string]any{"name": d.Name, "summary": d.Summary, "phases": d.Phases, "position": d.Position})
				}
				return json.NewEncoder(out).Encode(map[string]any{"items": items})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPHASES\tSUMMARY")
			for _, d := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, strings.Join(d.Phases, ","), d.Summary)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// writeFields prints a config schema's fields, nested objects indented.
func writeFields(w interface{ Write([]byte) (int, error) }, s map[string]any, indent string) {
	props, _ := s["properties"].(map[string]any)
	required := map[string]bool{}
	if r, ok := s["required"].([]string); ok {
		for _, n := range r {
			required[n] = true
		}
	}
	for _, name := range sortedKeys(props) {
		p, _ := props[name].(map[string]any)
		typ, _ := p["type"].(string)
		if typ == "" {
			typ = "any"
		}
		if typ == "array" {
			if it, ok := p["items"].(map[string]any); ok {
				if t, ok := it["type"].(string); ok {
					typ = "[]" + t
				}
			}
		}
		req := ""
		if required[name] {
			req = " (required)"
		}
		fmt.Fprintf(w, "%s%s: %s%s\n", indent, name, typ, req)
		if typ == "object" {
			writeFields(w, p, indent+"  ")
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
