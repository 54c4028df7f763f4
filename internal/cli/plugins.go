package cli

import (
	"encoding/json"
	"fmt"
	"io"
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

// writeFields prints a config schema's fields as a table: each field's
// path (nested ones dotted, list items as "[]"), type, default and meaning,
// all taken from the schema (its descriptions come from the plugin's README).
func writeFields(w io.Writer, s map[string]any, indent string) {
	fields := plugin.Fields(s)
	if len(fields) == 0 {
		fmt.Fprintf(w, "%snone\n", indent)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%sFIELD\tTYPE\tDEFAULT\tMEANING\n", indent)
	for _, f := range fields {
		def := f.Default
		switch {
		case def == "" && f.Required:
			def = "required"
		case def == "":
			def = "-"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", indent, f.Path, f.Type, def, f.Description)
	}
	_ = tw.Flush()
}
