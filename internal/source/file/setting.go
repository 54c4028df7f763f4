package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// A setting is a top-level block that configures the process rather than
// declaring objects (telemetry, discovery): one block in the whole config,
// read at start and on SIGHUP, and skipped by the object parser.

// loadSetting reads the block of key from the config file or directory at
// path, through decode; found is false when no file has one. A second
// block, in the same file or another, is an error naming both; decode's
// problems are errors naming the file and, where a problem names a field,
// that field's line.
func loadSetting[T any](path, key string, decode func(*yaml.Node) (T, error)) (v T, found bool, err error) {
	files, err := listFiles(filepath.Clean(path))
	if err != nil {
		return v, false, err
	}
	foundAt := ""
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return v, false, fmt.Errorf("file: %w", err)
		}
		if !bytes.Contains(data, []byte(key)) {
			continue // most files: no YAML parse for a block they lack
		}
		got, ok, line, errs := readSetting(data, key, decode)
		switch {
		case errs != nil:
			for _, e := range errs {
				e.File = f
			}
			return v, false, joinErrors(errs)
		case !ok:
			continue
		case foundAt != "":
			return v, false, &Error{File: f, Line: line, Err: fmt.Errorf("%s: a second %s block (the first is in %s); keep one", key, key, foundAt)}
		}
		v, found, foundAt = got, true, fmt.Sprintf("%s:%d", f, line)
	}
	return v, found, nil
}

// readSetting reads the block of key from one file's data: ok is false
// when it has none. Each problem is an Error at its field's line (the
// block's when it names no field), File left for the caller.
func readSetting[T any](data []byte, key string, decode func(*yaml.Node) (T, error)) (v T, ok bool, line int, errs []*Error) {
	n, line, err := settingNode(data, key)
	if err != nil {
		return v, false, line, []*Error{{Line: line, Err: err}}
	}
	if n == nil {
		return v, false, 0, nil
	}
	v, err = decode(n)
	if err != nil {
		for _, one := range unjoin(err) {
			errs = append(errs, &Error{Line: blockLine(n, key, line, one.Error()), Err: one})
		}
		return v, false, line, errs
	}
	return v, true, line, nil
}

func joinErrors(errs []*Error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// settingNode finds the value of key at the top level of data's documents,
// and the line of the key; nil when none has it, and an error for a
// second one.
func settingNode(data []byte, key string) (*yaml.Node, int, error) {
	docs, err := documents(bytes.NewReader(data))
	if err != nil {
		return nil, 0, fmt.Errorf("invalid YAML: %v", err)
	}
	var found *yaml.Node
	line := 0
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
			if root.Content[i].Value != key {
				continue
			}
			if found != nil {
				return nil, root.Content[i].Line, fmt.Errorf("%s: a second %s block (the first is at line %d); keep one", key, key, line)
			}
			found, line = deref(root.Content[i+1]), root.Content[i].Line
		}
	}
	return found, line, nil
}

// decodeStrict decodes n into out through JSON, so that an unknown field
// is an error and types are checked as the admin API's are; errors name
// the field under key.
func decodeStrict(n *yaml.Node, key string, out any) error {
	var raw any
	if err := n.Decode(&raw); err != nil {
		return fmt.Errorf("%s: %v", key, err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("%s: %v", key, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s.%s: must be %s (got a %s)", key, te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return fmt.Errorf("%s: %s", key, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "float64", "float32", "int", "int64", "int32", "uint8":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "a list"
	case "map", "struct", "ptr":
		return "a mapping"
	}
	return "a " + k
}

// unjoin returns the errors an errors.Join holds, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// blockLine finds the line of the field a problem names
// ("telemetry.accessLog.sinks[1].file.path: ...", "discovery[0].dns.servers[1]: ..."),
// as deep as the block n has it; line (the block's) when it names none.
func blockLine(n *yaml.Node, key string, line int, msg string) int {
	path, _, ok := strings.Cut(msg, ":")
	rest, ok2 := strings.CutPrefix(path, key)
	if !ok || !ok2 {
		return line
	}
	rest, _, _ = strings.Cut(rest, " ") // "endpoint (from OTEL_...)"
	for part := range strings.SplitSeq(rest, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			fmt.Sscanf(part[i+1:len(part)-1], "%d", &idx)
			name = part[:i]
		}
		if name != "" {
			next := mapValue(n, name)
			if next == nil {
				return line
			}
			line, n = keyLine(n, name), next
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = deref(n.Content[idx])
			line = n.Line
		}
	}
	return line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}
