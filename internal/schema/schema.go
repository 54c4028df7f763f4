// Package schema derives JSON schemas (as OpenAPI 3.0 uses them) from Go
// types and their json tags, for the admin API's document and plugin configs.
package schema

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
)

// obj is one JSON object of a schema.
type obj = map[string]any

var (
	durationType = reflect.TypeFor[ir.Duration]()
	endpointType = reflect.TypeFor[ir.Endpoint]()
	rawType      = reflect.TypeFor[json.RawMessage]()
	timeType     = reflect.TypeFor[time.Time]()
)

// Of derives the OpenAPI 3.0 (JSON Schema) schema of t from its Go type and json
// tags, so the document stays true as the IR grows. Types with their own
// JSON forms (durations, endpoints) are described by hand.
func Of(t reflect.Type) obj {
	switch t {
	case durationType:
		return obj{"type": "string", "format": "duration", "example": "5s",
			"description": `A Go duration ("5s", "250ms"); a number of seconds is accepted too.`}
	case endpointType:
		return obj{"oneOf": []any{
			obj{"type": "string", "description": "host:port", "example": "10.0.0.1:8080"},
			structSchema(t),
		}}
	case rawType:
		return obj{}
	case timeType:
		return obj{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return Of(t.Elem())
	case reflect.Struct:
		return structSchema(t)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return obj{"type": "string", "format": "byte"}
		}
		return obj{"type": "array", "items": Of(t.Elem())}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": Of(t.Elem())}
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int8, reflect.Int16, reflect.Int32:
		return obj{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64:
		return obj{"type": "integer", "format": "int64"}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint, reflect.Uint64:
		return obj{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	}
	return obj{}
}

// structSchema lists t's JSON fields. Fields without omitempty are required;
// unknown fields are refused (the API decodes strictly), hence
// additionalProperties false.
func structSchema(t reflect.Type) obj {
	props := obj{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type) // embedded: its fields are promoted
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = Of(f.Type)
			if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}
