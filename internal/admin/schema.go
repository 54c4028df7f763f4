package admin

import (
	"reflect"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/schema"
)

// obj is a JSON object of the OpenAPI document.
type obj = map[string]any

// schemaOf derives the OpenAPI schema of t from its Go type and json tags,
// so the document stays true as the IR grows.
func schemaOf(t reflect.Type) obj { return schema.Of(t) }

// typeName is the schema name of a kind: "Route".
func typeName(k ir.Kind) string { return reflect.TypeOf(ir.New(k)).Elem().Name() }

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
