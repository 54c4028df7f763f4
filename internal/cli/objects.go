package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/file"
)

type envelope struct {
	Kind    ir.Kind         `json:"kind"`
	Version int64           `json:"version"`
	Object  json.RawMessage `json:"object"`
}

type clientFlags struct{ server, key, config string }

func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", "", "admin API address (default $PYLON_ADMIN_ADDRESS or http://127.0.0.1:9180)")
	cmd.PersistentFlags().StringVar(&f.key, "key", "", "admin API key (default $PYLON_ADMIN_KEY)")
	cmd.PersistentFlags().StringVar(&f.config, "client-config", "", "client config file (default ~/.config/pylon/cli.yaml)")
}

func (f *clientFlags) client() (*apiClient, error) {
	cfg, err := loadClientConfig(f.server, f.key, f.config)
	if err != nil {
		return nil, err
	}
	return newAPIClient(cfg), nil
}

// kindArg accepts "route", "routes", "svc"-free plain kinds.
func kindArg(s string) (ir.Kind, error) {
	if k, ok := ir.KindByPlural(s); ok {
		return k, nil
	}
	if k := ir.Kind(s); ir.New(k) != nil {
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q (want %s)", s, ir.KindNames(true))
}

func getCmd() *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List objects of a kind, or show one (-o yaml|json)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			if len(args) == 2 {
				b, _, err := c.do("GET", "/api/v1/"+string(kind)+"s/"+url.PathEscape(args[1]), nil)
				if err != nil {
					return err
				}
				var e envelope
				if err := json.Unmarshal(b, &e); err != nil {
					return err
				}
				return printObjects(cmd.OutOrStdout(), output, []envelope{e})
			}
			var all []envelope
			cont := ""
			for {
				b, _, err := c.do("GET", "/api/v1/"+string(kind)+"s?limit=500&continue="+url.QueryEscape(cont), nil)
				if err != nil {
					return err
				}
				var page struct {
					Items    []envelope `json:"items"`
					Continue string     `json:"continue"`
				}
				if err := json.Unmarshal(b, &page); err != nil {
					return err
				}
				all = append(all, page.Items...)
				if cont = page.Continue; cont == "" {
					break
				}
			}
			return printObjects(cmd.OutOrStdout(), output, all)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json (default: a table)")
	return cmd
}

func printObjects(w io.Writer, output string, items []envelope) error {
	switch output {
	case "json":
		var objs []json.RawMessage
		for _, e := range items {
			objs = append(objs, e.Object)
		}
		var v any = objs
		if len(objs) == 1 {
			v = objs[0]
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		for i, e := range items {
			r, err := ir.DecodeJSON(e.Kind, e.Object)
			if err != nil {
				return err
			}
			if i > 0 {
				fmt.Fprintln(w, "---")
			}
			b, err := yaml.Marshal(r)
			if err != nil {
				return err
			}
			w.Write(b)
		}
		return nil
	case "":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tSUMMARY")
		sort.Slice(items, func(i, j int) bool { return string(items[i].Object) < string(items[j].Object) })
		for _, e := range items {
			r, err := ir.DecodeJSON(e.Kind, e.Object)
			if err != nil {
				return err
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", r.ResourceName(), e.Version, summary(r))
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown output format %q (want yaml or json)", output)
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

func applyCmd() *cobra.Command {
	var cf clientFlags
	var path string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR",
		Short: "Create or replace every object of the files in one atomic batch",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return fmt.Errorf("-f is required")
			}
			entries, errs := file.Load(path)
			if len(errs) > 0 {
				for _, e := range errs {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				return exitError(1)
			}
			type upsert struct {
				Kind   ir.Kind     `json:"kind"`
				Object ir.Resource `json:"object"`
			}
			batch := struct {
				Upserts []upsert `json:"upserts"`
			}{}
			for _, e := range entries {
				batch.Upserts = append(batch.Upserts, upsert{e.Object.Key.Kind, e.Object.Resource})
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			if _, _, err := c.do("POST", "/api/v1/batch", batch); err != nil {
				return err
			}
			for _, e := range entries {
				fmt.Fprintf(cmd.OutOrStdout(), "%s/%s applied\n", e.Object.Key.Kind, e.Object.Key.Name)
			}
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVarP(&path, "filename", "f", "", "YAML/JSON file or directory")
	return cmd
}

func deleteCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete one object",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			if _, _, err := c.do("DELETE", "/api/v1/"+string(kind)+"s/"+url.PathEscape(args[1]), nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", kind, args[1])
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}
