package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"

	"pylon.io/pylon/internal/schema"
)

// Definition describes a registered plugin.
type Definition struct {
	// Name is the plugin's unique name, as configs attach it.
	Name string
	// Summary is one line on what the plugin does.
	Summary string
	// Phases lists the phases the plugin hooks into (from its instance type).
	Phases []string
	// Position is the plugin's place in the ordering table.
	Position int
	// Schema is the JSON schema of the plugin's config.
	Schema map[string]any

	newConfig func() any
	build     func(cfg any, env *Env) (any, error)
	// sends: the config type is a ServiceUser (the plugin sends requests
	// to services of its own), so only its configs are worth decoding to
	// find them.
	sends bool
}

// Validator is implemented by a config that checks itself after decoding.
// It returns field errors (see Errorf) joined with errors.Join.
type Validator interface {
	Validate() error
}

// Defaulter is implemented by a config that fills its defaults before the
// user's fields are decoded over it.
type Defaulter interface {
	Default()
}

var (
	regMu    sync.RWMutex
	registry = map[string]*Definition{}
)

// Register adds a plugin under name, at init(). C is its config type (a
// struct; *C may implement Defaulter and Validator); build makes an
// instance from a validated config, and the instance's type I (a pointer
// type) says which phases it hooks (RequestHandler, AccessHandler, ...). Register panics on
// a duplicate name or a name missing from the ordering table: both are
// programming errors that must fail every test.
func Register[C, I any](name, summary string, build func(cfg *C, env *Env) (I, error)) {
	pos, ok := position(name)
	if !ok {
		panic(fmt.Sprintf("plugin: %q is not in the ordering table (internal/plugin/order.go)", name))
	}
	register(name, summary, pos, build)
}

// RegisterTesting registers a plugin that is not in the ordering table, after
// every plugin that is, in registration order. It is for tests of the
// platform itself; built-in plugins use Register.
func RegisterTesting[C, I any](name string, build func(cfg *C, env *Env) (I, error)) {
	regMu.RLock()
	pos := len(order) + len(registry)
	regMu.RUnlock()
	register(name, "test plugin", pos, build)
}

func register[C, I any](name, summary string, pos int, build func(cfg *C, env *Env) (I, error)) {
	d := &Definition{
		Name: name, Summary: summary, Position: pos,
		Phases:    phasesOf(any(*new(I))),
		Schema:    schema.Of(reflect.TypeFor[C]()),
		newConfig: func() any { return new(C) },
		sends:     reflect.TypeFor[*C]().Implements(reflect.TypeFor[ServiceUser]()),
		build: func(cfg any, env *Env) (any, error) {
			inst, err := build(cfg.(*C), env)
			return inst, err
		},
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("plugin: %q registered twice", name))
	}
	registry[name] = d
}

// Lookup returns the named plugin's definition.
func Lookup(name string) (*Definition, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	d, ok := registry[name]
	return d, ok
}

// All returns every registered plugin, in execution order.
func All() []*Definition {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]*Definition, 0, len(registry))
	for _, d := range registry {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Definition) int { return a.Position - b.Position })
	return out
}

// FieldError is a problem with one field of a plugin's config; Field is
// the path inside the config ("rate", "rules[1].header").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Errorf returns a FieldError for a config's Validate.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// DecodeConfig decodes and validates a config for the named plugin: strict
// JSON (unknown fields are errors), defaults first, then Validate.
func DecodeConfig(name string, raw map[string]any) (any, error) {
	d, ok := Lookup(name)
	if !ok {
		return nil, &FieldError{Msg: fmt.Sprintf("unknown plugin %q (see `pylon plugins`)", name)}
	}
	cfg := d.newConfig()
	if df, ok := cfg.(Defaulter); ok {
		df.Default()
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return nil, &FieldError{Msg: fmt.Sprintf("config is not plain data: %v", err)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		fe := decodeError(err)
		if fe.Field == "" {
			// A type's own UnmarshalJSON (a duration) fails without saying
			// where; find the field by decoding the config piece by piece.
			fe.Field = locate(raw, reflect.TypeOf(cfg))
		}
		return nil, fe
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func decodeError(err error) *FieldError {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return &FieldError{Field: te.Field, Msg: fmt.Sprintf("must be %s, not %s", te.Type, te.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &FieldError{Field: strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), Msg: "unknown field"}
	}
	return &FieldError{Msg: strings.TrimPrefix(err.Error(), "json: ")}
}

// locate returns the path of the first field of v that does not decode
// into t, or "" if none is found.
func locate(v any, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch x := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			break
		}
		for name, fv := range x {
			f, ok := fieldByJSONName(t, name)
			if !ok {
				continue
			}
			if inner := locate(fv, f.Type); inner != "" {
				if strings.HasPrefix(inner, "[") {
					return name + inner
				}
				return name + "." + inner
			}
			if !decodes(fv, f.Type) {
				return name
			}
		}
	case []any:
		if t.Kind() != reflect.Slice {
			break
		}
		for i, ev := range x {
			if inner := locate(ev, t.Elem()); inner != "" {
				return fmt.Sprintf("[%d].%s", i, inner)
			}
			if !decodes(ev, t.Elem()) {
				return fmt.Sprintf("[%d]", i)
			}
		}
	}
	return ""
}

func decodes(v any, t reflect.Type) bool {
	data, err := json.Marshal(v)
	return err == nil && json.Unmarshal(data, reflect.New(t).Interface()) == nil
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || (tag == "" && strings.EqualFold(f.Name, name)) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// phasesOf lists the phases an instance hooks into.
func phasesOf(inst any) []string {
	var p []string
	if _, ok := inst.(RequestHandler); ok {
		p = append(p, "request")
	}
	if _, ok := inst.(AccessHandler); ok {
		p = append(p, "access")
	}
	if _, ok := inst.(UpstreamHandler); ok {
		p = append(p, "upstream")
	}
	if _, ok := inst.(ResponseHandler); ok {
		p = append(p, "response")
	}
	if _, ok := inst.(BodyHandler); ok {
		p = append(p, "body")
	}
	if _, ok := inst.(LogHandler); ok {
		p = append(p, "log")
	}
	return p
}
