package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlTypes are the media types of a YAML body. The same objects, envelopes
// and batches are accepted in YAML as in JSON, with the field names of the
// config files, so an object can be sent as it is written there.
var yamlTypes = map[string]bool{"application/yaml": true, "application/x-yaml": true, "text/yaml": true, "text/x-yaml": true}

// jsonBody reads a write's body and returns it as JSON (object names what
// the body holds, for a problem): a YAML body (by its
// Content-Type) converted, any other body as it is. A body that is not JSON
// at all is refused here with a message that says what to send, rather
// than by the JSON decoder with "invalid character 'a' in literal null".
// Any Content-Type is taken with a JSON body, as before YAML was accepted:
// `curl -d` sends its own.
func jsonBody(w http.ResponseWriter, r *http.Request, max int64, object string) ([]byte, *httpError) {
	b, herr := readBody(w, r, max)
	if herr != nil {
		return nil, herr
	}
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if yamlTypes[mt] {
		j, err := yamlToJSON(b)
		if err != nil {
			return nil, invalid([]Problem{{Object: object, Message: err.Error()}})
		}
		return j, nil
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] == '{' || t[0] == '[' || json.Valid(t) {
		return b, nil // JSON, or meant to be: the decoder says where it is wrong
	}
	msg := fmt.Sprintf("admin: the body is not JSON (it begins %q): send JSON, or YAML with Content-Type: application/yaml", begin(t))
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return nil, badRequest("%s", msg)
	}
	return nil, &httpError{http.StatusUnsupportedMediaType, errorBody{Error: "unsupported media type", Message: msg}}
}

// begin is the first few characters of a body, for an error message.
func begin(b []byte) string {
	const n = 24
	if len(b) <= n {
		return string(b)
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(b[i]) {
			return string(b[:i]) + "…"
		}
	}
	return string(b[:n]) + "…"
}

// yamlToJSON converts one YAML document to JSON. Scalars keep the meaning
// the config files give them (yaml.v3's, YAML 1.2: "yes" is a string, a
// date is its text); anchors and aliases are expanded within a budget, so a
// small body cannot expand into gigabytes.
func yamlToJSON(b []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty body: want a YAML object")
		}
		return nil, fmt.Errorf("malformed YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New("malformed YAML: want one document, found more (---)")
	}
	c := &yamlConv{budget: max(4*len(b), 1<<16)}
	v, err := c.value(&doc, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

type yamlConv struct{ budget int }

const yamlMaxDepth = 100

func (c *yamlConv) value(n *yaml.Node, depth int) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, errors.New("malformed YAML: aliases expand too far")
	}
	if depth > yamlMaxDepth {
		return nil, fmt.Errorf("malformed YAML: nested deeper than %d at line %d", yamlMaxDepth, n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.value(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		if err := c.mapping(n, out, depth); err != nil {
			return nil, err
		}
		return out, nil
	}
	return scalar(n)
}

// mapping adds n's pairs to out; keys merged in with "<<" do not replace
// the mapping's own.
func (c *yamlConv) mapping(n *yaml.Node, out map[string]any, depth int) error {
	own := map[string]bool{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("malformed YAML: line %d: a key must be a plain value", k.Line)
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if own[k.Value] {
			return fmt.Errorf("malformed YAML: line %d: key %q appears twice", k.Line, k.Value)
		}
		own[k.Value] = true
		val, err := c.value(v, depth+1)
		if err != nil {
			return err
		}
		out[k.Value] = val
	}
	for _, m := range merges {
		if m.Kind == yaml.AliasNode {
			m = m.Alias
		}
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, src := range srcs {
			if src.Kind == yaml.AliasNode {
				src = src.Alias
			}
			if src.Kind != yaml.MappingNode {
				return fmt.Errorf("malformed YAML: line %d: << must merge a mapping", m.Line)
			}
			merged := map[string]any{}
			if err := c.mapping(src, merged, depth+1); err != nil {
				return err
			}
			for k, v := range merged {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return nil
}

// scalar is a scalar's JSON value: numbers, booleans and null by their
// YAML tag, everything else its text.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("malformed YAML: line %d: %s", n.Line, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return nil, fmt.Errorf("malformed YAML: line %d: %s is not a number JSON can hold", n.Line, n.Value)
		}
		return v, nil
	case "!!binary":
		var s string
		if err := n.Decode(&s); err != nil {
			return nil, fmt.Errorf("malformed YAML: line %d: %s", n.Line, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return s, nil
	}
	return n.Value, nil
}
