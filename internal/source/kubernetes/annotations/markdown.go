package annotations

import "strings"

// Markdown renders the support table as a Markdown table, one row per
// annotation, for docs/kubernetes.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| annotation | status | what Pylon does |\n|---|---|---|\n")
	for _, s := range Table() {
		b.WriteString("| `" + s.Name + "` | " + string(s.Status) + " | " + strings.ReplaceAll(s.How, "|", `\|`) + " |\n")
	}
	return b.String()
}
