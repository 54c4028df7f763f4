package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/file"
)

func applyCmd() *cobra.Command {
	var cf clientFlags
	var path string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or replace every object of the files (or of stdin, in the files' format, as get -o yaml|json prints it) in one atomic batch",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return fmt.Errorf("-f is required")
			}
			entries, errs := loadObjects(path, cmd.InOrStdin())
			if len(errs) > 0 {
				for _, e := range errs {
					fmt.Fprintln(cmd.ErrOrStderr(), e)
				}
				return exitError(1)
			}
			if len(entries) == 0 {
				return fmt.Errorf("%s holds no objects", path)
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
	cmd.Flags().StringVarP(&path, "filename", "f", "", "YAML/JSON file or directory, or - for stdin")
	return cmd
}

// loadObjects reads the objects of a file or directory, or of stdin for
// "-". Stdin has no directory, so certFile, keyFile and caFile are not
// resolved there: give the PEM inline.
func loadObjects(path string, stdin io.Reader) ([]file.Entry, []error) {
	if path != "-" {
		return file.Load(path)
	}
	b, err := io.ReadAll(stdin)
	if err != nil {
		return nil, []error{fmt.Errorf("stdin: %w", err)}
	}
	entries, errs, _ := file.ParseFile("<stdin>", b)
	return entries, errs
}
