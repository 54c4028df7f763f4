package file

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/ir"
)

// walker checks one object's YAML node against its Go type, because yaml.v3
// only rejects unknown fields through a Decoder, and we decode node by node.
// In the fast pass it only looks at mapping keys. When something went wrong
// it runs again in detail mode: it records the line of every field path (so
// Validate's errors can point at a line) and decodes each leaf on its own
// (so a type error names its field, which yaml.v3's messages do not).
type walker struct {
	kind   ir.Kind
	name   string
	errs   []fieldProblem
	segs   []seg
	lines  map[string]int // detail mode only
	budget int            // nodes left; aliases can expand a small file exponentially
	// bad are the nodes that failed to decode (detail mode only): decoding
	// the object again without them reads the rest, to check it too.
	bad map[*yaml.Node]bool
}

type fieldProblem struct {
	line int
	err  *ir.FieldError
}

// seg is one step of a field path: a key, or an index when idx >= 0.
type seg struct {
	key string
	idx int
}

const walkBudget = 1 << 20

func (w *walker) path() string {
	var b strings.Builder
	for _, s := range w.segs {
		if s.idx >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

func (w *walker) fail(line int, format string, args ...any) {
	w.errs = append(w.errs, fieldProblem{line, fieldErr(w.kind, w.name, w.path(), format, args...)})
}

func (w *walker) detail() bool { return w.lines != nil }

func (w *walker) walk(n *yaml.Node, t reflect.Type) {
	if w.budget--; w.budget < 0 {
		if w.budget == -1 {
			w.fail(n.Line, "object too large (more than %d YAML nodes, aliases included)", walkBudget)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the zero value, whatever the type
	}
	// Types with their own unmarshaler (ir.Endpoint, ir.Duration) decide their
	// own shape. A struct one written as a mapping is still checked against its
	// fields, so a typo in an endpoint's "weight" is caught too.
	custom := hasUnmarshaler(t)
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		w.walkStruct(n, t)
		if custom {
			w.decodeLeaf(n, t)
		}
	case custom:
		w.decodeLeaf(n, t)
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			w.segs = append(w.segs, seg{idx: i})
			w.record(c.Line)
			w.walk(c, t.Elem())
			w.segs = w.segs[:len(w.segs)-1]
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.segs = append(w.segs, seg{key: n.Content[i].Value, idx: -1})
			w.record(n.Content[i].Line)
			w.walk(n.Content[i+1], t.Elem())
			w.segs = w.segs[:len(w.segs)-1]
		}
	default:
		w.decodeLeaf(n, t)
	}
}

func (w *walker) walkStruct(n *yaml.Node, t reflect.Type) {
	info := structInfoOf(t)
	var seen map[string]bool // only for big mappings, where a scan per key would be quadratic
	if len(n.Content) > 64 {
		seen = map[string]bool{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			w.walkMerge(v, t)
			continue
		}
		w.segs = append(w.segs, seg{key: k.Value, idx: -1})
		w.record(k.Line)
		ft, ok := info.fields[k.Value]
		switch {
		case !ok:
			w.fail(k.Line, "unknown field (known: %s)", info.known)
		case seen != nil && seen[k.Value], seen == nil && duplicateKey(n.Content, i):
			w.fail(k.Line, "duplicate field")
		default:
			if seen != nil {
				seen[k.Value] = true
			}
			w.walk(v, ft)
		}
		w.segs = w.segs[:len(w.segs)-1]
	}
}

// walkMerge checks the mappings pulled in by a YAML merge key ("<<: *base").
func (w *walker) walkMerge(v *yaml.Node, t reflect.Type) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			w.walkMerge(c, t)
		}
		return
	}
	w.walk(v, t)
}

func duplicateKey(content []*yaml.Node, i int) bool {
	for j := 0; j < i; j += 2 {
		if content[j].Value == content[i].Value && content[j].Tag != "!!merge" {
			return true
		}
	}
	return false
}

func (w *walker) record(line int) {
	if w.lines != nil {
		if p := w.path(); p != "" {
			if _, ok := w.lines[p]; !ok {
				w.lines[p] = line
			}
		}
	}
}

// decodeLeaf decodes n into a fresh t, in detail mode only, to name the field
// of a type error.
func (w *walker) decodeLeaf(n *yaml.Node, t reflect.Type) {
	if !w.detail() {
		return
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		if w.bad == nil {
			w.bad = map[*yaml.Node]bool{}
		}
		w.bad[n] = true
		w.fail(n.Line, "%s", typeMessage(n, t, err))
	}
}

// typeMessage says what a value that failed to decode into t should have
// been, in the user's words rather than yaml.v3's ("cannot unmarshal !!str
// `high` into int32"). Types with their own unmarshaler (durations,
// endpoints) have their own messages, which are kept.
func typeMessage(n *yaml.Node, t reflect.Type, err error) string {
	var te *yaml.TypeError
	if hasUnmarshaler(t) || !errors.As(err, &te) {
		return cleanYAMLError(err)
	}
	var want string
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		want = "must be an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "must be a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		want = "must be a number"
	case reflect.Bool:
		want = "must be true or false"
	case reflect.String:
		want = "must be a string"
	case reflect.Slice, reflect.Array:
		want = "must be a list"
	case reflect.Map, reflect.Struct:
		want = "must be a mapping"
	default:
		return cleanYAMLError(err)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return fmt.Sprintf("%s (got %q)", want, v)
	case yaml.SequenceNode:
		return want + " (got a list)"
	case yaml.MappingNode:
		return want + " (got a mapping)"
	}
	return want
}

// lineOf returns the line of field, or of its closest parent that has one.
func (w *walker) lineOf(field string, fallback int) int {
	for field != "" {
		if l, ok := w.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return fallback
}

var yamlLinePrefix = regexp.MustCompile(`^(yaml: )?(unmarshal errors:\s*)?(line \d+: )?`)

// cleanYAMLError drops yaml.v3's "yaml: unmarshal errors: line N:" prefixes,
// since our error already carries the file, line and field.
func cleanYAMLError(err error) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i, l := range lines {
		lines[i] = yamlLinePrefix.ReplaceAllString(strings.TrimSpace(l), "")
	}
	return strings.Join(slices.DeleteFunc(lines, func(s string) bool { return s == "" }), "; ")
}

type structInfo struct {
	fields map[string]reflect.Type
	known  string // sorted, for error messages
}

var structInfos sync.Map // reflect.Type → *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if v, ok := structInfos.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{fields: map[string]reflect.Type{}}
	addFields(t, info.fields)
	names := make([]string, 0, len(info.fields))
	for k := range info.fields {
		names = append(names, k)
	}
	slices.Sort(names)
	info.known = strings.Join(names, ", ")
	structInfos.Store(t, info)
	return info
}

// addFields mirrors yaml.v3's field naming: the tag's name, else the
// lowercased Go name; ",inline" structs lend their fields.
func addFields(t reflect.Type, m map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(ft, m)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func hasUnmarshaler(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(unmarshalerType) || pt.Implements(unmarshalerType) ||
		pt.Implements(textUnmarshalerType)
}
