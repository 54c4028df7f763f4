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

	"pylon.io/pylon/internal/telemetry"
)

// telemetryKey is the top-level key of the telemetry block. It is not a
// section of objects: the block is a setting of the process, read with
// LoadTelemetry at start and on SIGHUP, and the object parser skips it.
const telemetryKey = "telemetry"

// LoadTelemetry reads the telemetry block from the config file or
// directory at path: nil when no file has one. Two files with a block, an
// unknown field or a bad value are errors naming the file, line and field.
func LoadTelemetry(path string) (*telemetry.Config, error) {
	files, err := listFiles(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	var found *telemetry.Config
	var foundAt string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		if !bytes.Contains(data, []byte(telemetryKey)) {
			continue // most files: no YAML parse for a block they lack
		}
		cfg, line, node, err := telemetryBlock(data)
		switch {
		case err != nil && node != nil:
			// Each problem at its field's line.
			var errs []error
			for _, one := range unjoin(err) {
				errs = append(errs, &Error{File: f, Line: blockLine(node, line, one.Error()), Err: one})
			}
			return nil, errors.Join(errs...)
		case err != nil:
			return nil, &Error{File: f, Line: line, Err: err}
		case cfg == nil:
			continue
		case found != nil:
			return nil, &Error{File: f, Line: line, Err: fmt.Errorf("telemetry: a second telemetry block (the first is in %s); keep one", foundAt)}
		}
		found, foundAt = cfg, fmt.Sprintf("%s:%d", f, line)
	}
	return found, nil
}

// telemetryBlock finds and decodes the telemetry block of one file.
func telemetryBlock(data []byte) (*telemetry.Config, int, *yaml.Node, error) {
	docs, err := documents(bytes.NewReader(data))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("invalid YAML: %v", err)
	}
	var cfg *telemetry.Config
	var node *yaml.Node
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
			if root.Content[i].Value != telemetryKey {
				continue
			}
			if cfg != nil {
				return nil, root.Content[i].Line, nil, fmt.Errorf("telemetry: a second telemetry block (the first is at line %d); keep one", line)
			}
			line = root.Content[i].Line
			v := deref(root.Content[i+1])
			node = v
			if isNull(v) {
				cfg = &telemetry.Config{}
				continue
			}
			if v.Kind != yaml.MappingNode {
				return nil, line, nil, errors.New("telemetry: must be a mapping with keys tracing, accessLog")
			}
			c, err := decodeTelemetry(v)
			if err != nil {
				return nil, line, v, err
			}
			cfg = c
		}
	}
	if cfg != nil {
		if err := cfg.Validate(); err != nil {
			return nil, line, node, err
		}
	}
	return cfg, line, nil, nil
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
// ("telemetry.accessLog.sinks[1].file.path: ..."), as deep as the block
// has it; line (the block's) when it names none.
func blockLine(n *yaml.Node, line int, msg string) int {
	path, _, ok := strings.Cut(msg, ":")
	rest, ok2 := strings.CutPrefix(path, "telemetry.")
	if !ok || !ok2 {
		return line
	}
	rest, _, _ = strings.Cut(rest, " ") // "endpoint (from OTEL_...)"
	for part := range strings.SplitSeq(rest, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i > 0 && strings.HasSuffix(part, "]") {
			fmt.Sscanf(part[i+1:len(part)-1], "%d", &idx)
			name = part[:i]
		}
		next := mapValue(n, name)
		if next == nil {
			return line
		}
		line, n = keyLine(n, name), next
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

// decodeTelemetry decodes the block strictly: through JSON, so that an
// unknown field is an error and types are checked as the admin API's are.
func decodeTelemetry(n *yaml.Node) (*telemetry.Config, error) {
	var raw any
	if err := n.Decode(&raw); err != nil {
		return nil, fmt.Errorf("telemetry: %v", err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c telemetry.Config
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("telemetry.%s: must be %s (got a %s)", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			return nil, fmt.Errorf("telemetry: unknown field %s", rest)
		}
		return nil, fmt.Errorf("telemetry: %s", strings.TrimPrefix(msg, "json: "))
	}
	return &c, nil
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
