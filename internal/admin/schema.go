package admin

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
)

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

var (
	durationType = reflect.TypeFor[ir.Duration]()
	endpointType = reflect.TypeFor[ir.Endpoint]()
	rawType      = reflect.TypeFor[json.RawMessage]()
	timeType     = reflect.TypeFor[time.Time]()
)

// schemaOf derives the OpenAPI 3.0 schema of t from its Go type and json
// tags, so the document stays true as the IR grows. Types with their own
// JSON forms (durations, endpoints) are described by hand.
func schemaOf(t reflect.Type) obj {
	switch t {
	case durationType:
		return obj{"type": "string", "example": "5s",
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
		return schemaOf(t.Elem())
	case reflect.Struct:
		return structSchema(t)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return obj{"type": "string", "format": "byte"}
		}
		return obj{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": schemaOf(t.Elem())}
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
			props[name] = schemaOf(f.Type)
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

// typeName is the schema name of a kind: "Route".
func typeName(k ir.Kind) string { return reflect.TypeOf(ir.New(k)).Elem().Name() }

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
