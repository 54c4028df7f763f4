package file

import (
	"bytes"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/ir"
)

// FieldLine returns the line of field in the object of kind that begins on
// line of file, or of the closest parent of field that has one, or line
// itself when the file no longer reads so. It re-reads the file: it is for
// reports about a few objects (`pylon validate`), not for the load path.
func FieldLine(file string, line int, kind ir.Kind, field string) int {
	if field == "" {
		return line
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return line
	}
	docs, err := documents(bytes.NewReader(data))
	if err != nil {
		return line
	}
	for _, doc := range docs {
		root := doc
		if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
			root = root.Content[0]
		}
		root = deref(root)
		if root.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			sec, ok := findSection(root.Content[i].Value)
			v := deref(root.Content[i+1])
			if !ok || sec.kind != kind || v.Kind != yaml.SequenceNode {
				continue
			}
			for _, n := range v.Content {
				if n = deref(n); n.Line != line {
					continue
				}
				w := &walker{kind: kind, budget: walkBudget, lines: map[string]int{}}
				w.walk(n, reflect.TypeOf(sec.new()).Elem())
				return w.lineOf(field, line)
			}
		}
	}
	return line
}
