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

	"pylon.io/pylon/internal/discovery/providers"
)

// discoveryKey is the top-level key of the discovery provider list. Like
// telemetry it is a setting of the process, not objects: the providers are
// connections the process holds (one per registry, shared by every
// service), opened at start, and the list is read with LoadDiscovery; the
// object parser skips it. Services name a provider by its entry's name.
const discoveryKey = "discovery"

// LoadDiscovery reads the discovery list from the config file or
// directory at path: nil when no file has one. Two files with a list, an
// unknown field or a bad value are errors naming the file, line and field.
func LoadDiscovery(path string) ([]providers.Config, error) {
	files, err := listFiles(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	var found []providers.Config
	foundAt := ""
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		if !bytes.Contains(data, []byte(discoveryKey)) {
			continue
		}
		list, line, ok, err := discoveryBlock(data)
		switch {
		case err != nil:
			return nil, &Error{File: f, Line: line, Err: err}
		case !ok:
			continue
		case foundAt != "":
			return nil, &Error{File: f, Line: line, Err: fmt.Errorf("discovery: a second discovery list (the first is in %s); keep one", foundAt)}
		}
		found, foundAt = list, fmt.Sprintf("%s:%d", f, line)
	}
	if err := providers.Validate(found); err != nil {
		return nil, fmt.Errorf("file: %s: %w", foundAt, err)
	}
	return found, nil
}

// discoveryBlock finds and decodes the discovery list of one file.
func discoveryBlock(data []byte) ([]providers.Config, int, bool, error) {
	docs, err := documents(bytes.NewReader(data))
	if err != nil {
		return nil, 0, false, fmt.Errorf("invalid YAML: %v", err)
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
			if root.Content[i].Value != discoveryKey {
				continue
			}
			line, v := root.Content[i].Line, deref(root.Content[i+1])
			if isNull(v) {
				return nil, line, true, nil
			}
			if v.Kind != yaml.SequenceNode {
				return nil, line, false, errors.New("discovery: must be a list of providers (name and one of dns)")
			}
			list, err := decodeDiscovery(v)
			return list, line, true, err
		}
	}
	return nil, 0, false, nil
}

// decodeDiscovery decodes the list strictly, through JSON like the
// telemetry block, so an unknown field is an error.
func decodeDiscovery(n *yaml.Node) ([]providers.Config, error) {
	var raw any
	if err := n.Decode(&raw); err != nil {
		return nil, fmt.Errorf("discovery: %v", err)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("discovery: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var list []providers.Config
	if err := dec.Decode(&list); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("discovery.%s: must be %s (got a %s)", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		msg := strings.TrimPrefix(err.Error(), "json: ")
		return nil, fmt.Errorf("discovery: %s", msg)
	}
	return list, nil
}
