package plugin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// fieldTable is the header of the table in which a plugin's README
// describes its config fields, one row per field.
const fieldTable = "| field | type | default | meaning |"

var quoted = regexp.MustCompile("`([^`]+)`")

// Document completes the named plugin's config schema for its readers (the
// admin API, `pylon plugins NAME`): every field gets the "description" its
// README's field table gives it, and every field the config's Default sets
// gets that value as its "default"; a default the README gives only in
// words ("the request's") is kept under "x-default". The README is the one place the fields
// are explained, so the schema takes its words from there rather than
// repeating them. Document returns the README rows that name no field of
// the schema and the fields no row describes, so that a test holds the two
// together. It is meant for init(), before the schema is read.
func Document(name string, readme []byte) (problems []string) {
	d, ok := Lookup(name)
	if !ok {
		return []string{fmt.Sprintf("no plugin %q", name)}
	}
	defaults := map[string]any{}
	cfg := d.newConfig()
	if df, ok := cfg.(Defaulter); ok {
		df.Default()
		if b, err := json.Marshal(cfg); err == nil {
			_ = json.Unmarshal(b, &defaults)
		}
	}
	setDefaults(d.Schema, defaults)

	for _, row := range fieldRows(readme) {
		names := fieldNames(row[0])
		dflts := []string{row[2]}
		if parts := strings.Split(row[2], ", "); len(names) > 1 && len(parts) == len(names) {
			dflts = parts
		}
		for i, n := range names {
			prop := propertyAt(d.Schema, n)
			if prop == nil {
				problems = append(problems, fmt.Sprintf("%s: README row %q names no config field", name, n))
				continue
			}
			prop["description"] = row[3]
			if _, ok := prop["default"]; !ok {
				if words := defaultWords(dflts[min(i, len(dflts)-1)]); words != "" {
					prop[defaultInWords] = words
				}
			}
		}
	}
	for _, n := range nodes(d.Schema, "", false) {
		if desc, _ := n.prop["description"].(string); desc == "" && !n.compound && !n.covered {
			problems = append(problems, fmt.Sprintf("%s: config field %s has no row in the README's field table", name, n.path))
		}
	}
	return problems
}

// fieldRows returns the cells (field, type, default, meaning) of every row
// of the README's field tables, with Markdown quoting and escapes removed
// from all but the field cell.
func fieldRows(readme []byte) [][4]string {
	var rows [][4]string
	in := false
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == fieldTable:
			in = true
			continue
		case !strings.HasPrefix(line, "|"):
			in = false
			continue
		case !in || strings.HasPrefix(line, "|--"):
			continue
		}
		cells := splitCells(line)
		if len(cells) != 4 {
			continue
		}
		rows = append(rows, [4]string{cells[0], plainText(cells[1]), plainText(cells[2]), plainText(cells[3])})
	}
	return rows
}

// splitCells splits a table row at its unescaped pipes.
func splitCells(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteString(`\|`)
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

func plainText(s string) string {
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, "`", ""), `\|`, "|"))
}

// fieldNames reads the quoted field paths of a field cell: "`a.b`, `a.c`",
// or "`rules[].hashOn.header` / `.cookie`", where a name that starts with a
// dot replaces the last part of the one before it.
func fieldNames(cell string) []string {
	var names []string
	for _, m := range quoted.FindAllStringSubmatch(cell, -1) {
		n := m[1]
		if strings.HasPrefix(n, ".") && len(names) > 0 {
			prev := names[len(names)-1]
			n = prev[:max(strings.LastIndexByte(prev, '.'), 0)] + n
		}
		names = append(names, n)
	}
	return names
}

// defaultInWords is the schema keyword (an OpenAPI extension) for a
// default the README gives in words because it is no fixed value ("the
// request's", "rate"), or a condition ("required with prefix").
const defaultInWords = "x-default"

// defaultWords is a README default cell worth keeping: not "none", and not
// a plain "required" (the schema's required list says that).
func defaultWords(cell string) string {
	switch strings.ToLower(cell) {
	case "", "none", "—", "-", "required":
		return ""
	}
	return cell
}

// propertyAt finds the schema of a field path such as "reject.status" or
// "rules[].service" ("[]" steps into a list's items).
func propertyAt(s map[string]any, path string) map[string]any {
	cur := s
	for _, part := range strings.Split(path, ".") {
		list := strings.HasSuffix(part, "[]")
		props, _ := cur["properties"].(map[string]any)
		next, _ := props[strings.TrimSuffix(part, "[]")].(map[string]any)
		if next == nil {
			return nil
		}
		if list {
			if next, _ = next["items"].(map[string]any); next == nil {
				return nil
			}
		}
		cur = next
	}
	return cur
}

// setDefaults records the non-empty values of a defaulted config as its
// fields' defaults, inside nested objects too.
func setDefaults(s map[string]any, values map[string]any) {
	props, _ := s["properties"].(map[string]any)
	for name, v := range values {
		prop, _ := props[name].(map[string]any)
		if prop == nil || empty(v) {
			continue
		}
		if inner, ok := v.(map[string]any); ok && prop["properties"] != nil {
			setDefaults(prop, inner)
			continue
		}
		prop["default"] = v
	}
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case float64:
		return x == 0
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// node is one field of a config schema: a leaf holds a value, a compound
// field is an object or a list of objects whose fields are nodes too.
type node struct {
	path     string
	prop     map[string]any
	required bool
	compound bool
	// covered: a compound field above it has a description, which speaks
	// for its parts (a README's "list of {name, value}").
	covered bool
}

// nodes lists a schema's fields depth first, in name order.
func nodes(s map[string]any, prefix string, covered bool) []node {
	props, _ := s["properties"].(map[string]any)
	required, _ := s["required"].([]string)
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []node
	for _, n := range names {
		prop, _ := props[n].(map[string]any)
		nd := node{path: prefix + n, prop: prop, required: slices.Contains(required, n), covered: covered}
		inner, sep := prop, "."
		if items, ok := prop["items"].(map[string]any); ok {
			inner, sep = items, "[]."
		}
		_, nd.compound = inner["properties"]
		out = append(out, nd)
		if nd.compound {
			desc, _ := prop["description"].(string)
			out = append(out, nodes(inner, nd.path+sep, covered || desc != "")...)
		}
	}
	return out
}

// Fields lists a config schema's fields as `pylon plugins NAME` prints
// them, in name order, nested ones by their dotted path.
func Fields(s map[string]any) []Field {
	var out []Field
	for _, n := range nodes(s, "", false) {
		f := Field{Path: n.path, Type: typeName(n.prop), Required: n.required}
		f.Description, _ = n.prop["description"].(string)
		if f.Description == "" && (n.compound || n.covered) {
			continue // its parts are listed, or its parent speaks for it
		}
		if words, ok := n.prop[defaultInWords].(string); ok {
			f.Default = words
		}
		if v, ok := n.prop["default"]; ok {
			if str, ok := v.(string); ok {
				f.Default = str
				if f.Type == "duration" {
					f.Default = shortDuration(str)
				}
			} else if b, err := json.Marshal(v); err == nil {
				f.Default = string(b)
			}
		}
		out = append(out, f)
	}
	return out
}

// Field is one config field of a plugin, from its schema.
type Field struct {
	Path        string // "rate", "reject.status", "rules[].service"
	Type        string // "string", "integer", "duration", "list of string", ...
	Default     string // the default value (or the README's words for it), "" when there is none
	Required    bool
	Description string
}

func typeName(prop map[string]any) string {
	typ, _ := prop["type"].(string)
	switch {
	case typ == "string" && prop["format"] == "duration":
		return "duration"
	case typ == "array":
		items, _ := prop["items"].(map[string]any)
		return "list of " + typeName(items)
	case typ == "object" && prop["properties"] != nil:
		return objectShape(prop)
	case typ == "object" && prop["additionalProperties"] != nil:
		return "map"
	case typ == "":
		return "any"
	}
	return typ
}

// objectShape writes an object's fields as the READMEs do: "{name, value}",
// required ones first, optional ones marked "?".
func objectShape(prop map[string]any) string {
	props, _ := prop["properties"].(map[string]any)
	required, _ := prop["required"].([]string)
	var must, may []string
	for n := range props {
		if slices.Contains(required, n) {
			must = append(must, n)
		} else {
			may = append(may, n+"?")
		}
	}
	slices.Sort(must)
	slices.Sort(may)
	return "{" + strings.Join(append(must, may...), ", ") + "}"
}

// shortDuration drops the zero minutes and seconds Go writes after whole
// hours and minutes: "24h0m0s" reads "24h", "5m0s" "5m".
func shortDuration(d string) string {
	if strings.HasSuffix(d, "m0s") {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}
