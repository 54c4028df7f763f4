package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"pylon.io/pylon/internal/ir"
)

// envelope is an object as the admin API returns it.
type envelope struct {
	Kind      ir.Kind         `json:"kind"`
	Version   int64           `json:"version"`
	Source    string          `json:"source"`
	Namespace string          `json:"namespace"`
	Object    json.RawMessage `json:"object"`
}

// name is the object's name as the API and the CLI show it:
// "namespace/name" outside the default namespace.
func (e envelope) name() string {
	var o struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(e.Object, &o)
	if e.Namespace != "" && e.Namespace != "default" {
		return e.Namespace + "/" + o.Name
	}
	return o.Name
}

type clientFlags struct {
	server, config string
	keys           keyFlags
}

func (f *clientFlags) add(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.server, "server", "", "admin API address (default $PYLON_ADMIN_ADDRESS or http://127.0.0.1:9180)")
	fl.StringVar(&f.keys.key, "key", "", "admin API key (default $PYLON_ADMIN_KEY); wins over the environment")
	fl.StringVar(&f.keys.keyFile, "key-file", "", "file holding the admin API key, as for run --admin-key-file; wins over the environment")
	fl.StringVar(&f.config, "client-config", "", "client config file (default ~/.config/pylon/cli.yaml)")
}

func (f *clientFlags) client() (*apiClient, error) {
	cfg, err := loadClientConfig(f.server, f.keys, f.config)
	if err != nil {
		return nil, err
	}
	return newAPIClient(cfg), nil
}

// kindArg accepts a kind by its singular or plural name ("route", "routes").
func kindArg(s string) (ir.Kind, error) {
	if k, ok := ir.KindByPlural(s); ok {
		return k, nil
	}
	if k := ir.Kind(s); ir.New(k) != nil {
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q (want %s)", s, ir.KindNames(true))
}

// objectPath is the API path of one object; the '/' of a name (a
// namespace, or a name that has one) stay separators.
func objectPath(kind ir.Kind, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return "/api/v1/" + kind.Plural() + "/" + strings.Join(parts, "/")
}

func getCmd() *cobra.Command {
	var cf clientFlags
	var output, source string
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List every live object of a kind with its source (file, kubernetes, api), or show one; -o yaml|json prints what apply -f takes",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindArg(args[0])
			if err != nil {
				return err
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			var items []envelope
			if len(args) == 2 {
				b, _, err := c.do("GET", objectPath(kind, args[1]), nil)
				if err != nil {
					return err
				}
				var e envelope
				if err := json.Unmarshal(b, &e); err != nil {
					return fmt.Errorf("admin API answer: %w", err)
				}
				items = []envelope{e}
			} else if items, err = listAll(c, kind); err != nil {
				return err
			}
			if source != "" {
				kept := items[:0]
				for _, e := range items {
					if e.Source == source {
						kept = append(kept, e)
					}
				}
				items = kept
			}
			return printObjects(cmd.OutOrStdout(), output, kind, items)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: yaml or json, in the config files' format (default: a table)")
	cmd.Flags().StringVar(&source, "source", "", "only objects of this source: api, file or kubernetes")
	return cmd
}

// listAll reads every page of a list.
func listAll(c *apiClient, kind ir.Kind) ([]envelope, error) {
	var all []envelope
	cont := ""
	for {
		path := "/api/v1/" + kind.Plural() + "?limit=500"
		if cont != "" {
			path += "&continue=" + url.QueryEscape(cont)
		}
		b, _, err := c.do("GET", path, nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Items    []envelope `json:"items"`
			Continue string     `json:"continue"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, fmt.Errorf("admin API answer: %w", err)
		}
		all = append(all, page.Items...)
		if cont = page.Continue; cont == "" {
			return all, nil
		}
	}
}

func deleteCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "delete KIND NAME",
		Short: "Delete one object written through the API (objects of files and Kubernetes change where they are defined)",
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
			if _, _, err := c.do("DELETE", objectPath(kind, args[1]), nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", kind, args[1])
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}
