package admin

import (
	"encoding/json"
	"reflect"

	"pylon.io/pylon/internal/ir"
)

const apiDescription = `Pylon's admin API. Every call needs "Authorization: Bearer KEY"; ` +
	`repeated wrong keys from one client IP are answered 429 with Retry-After.

Objects travel in an envelope: {"kind": "route", "version": 12, "source": "api", "object": {...}}, where object has ` +
	`the same fields as the YAML files and version is the store revision of the object's last write. ` +
	`Lists and GET show every live object, with its source: api, file or kubernetes (those of another ` +
	`namespace than default carry it, and are named NAMESPACE/NAME). Objects of files and Kubernetes ` +
	`have version 0 and are read-only: a write to one is a 409 naming its source. ` +
	`POST and PUT accept the bare object or the envelope, as JSON or as YAML (Content-Type: application/yaml); ` +
	`another body gets 415. PUT is conditional when a version is given, ` +
	`in the envelope or as If-Match: a stale version is a 409 carrying the current one.

Every write is decoded strictly (unknown fields, wrong types and trailing data are errors), ` +
	`validated, checked against the live configuration (unknown services, conflicting routes, a ` +
	`service still in use) and committed durably before the ` +
	`answer. A 400 lists every problem with its object and field path.`

// openAPIDocument builds the OpenAPI 3.0 document once, at New.
func openAPIDocument() []byte {
	schemas := obj{
		"Problem":       schemaOf(reflect.TypeFor[Problem]()),
		"Error":         schemaOf(reflect.TypeFor[errorBody]()),
		"Status":        schemaOf(reflect.TypeFor[StatusBody]()),
		"NodeList":      obj{"type": "object", "properties": obj{"items": obj{"type": "array", "items": schemaOf(reflect.TypeFor[NodeInfo]())}}},
		"PluginInfo":    schemaOf(reflect.TypeFor[PluginInfo]()),
		"PluginList":    obj{"type": "object", "properties": obj{"items": obj{"type": "array", "items": ref("PluginInfo")}}},
		"BatchRequest":  schemaOf(reflect.TypeFor[BatchRequest]()),
		"BatchResponse": schemaOf(reflect.TypeFor[BatchResponse]()),
	}
	var anyObject []any
	paths := obj{}
	for _, k := range ir.Kinds {
		name := typeName(k)
		schemas[name] = schemaOf(reflect.TypeOf(ir.New(k)).Elem())
		schemas[name+"Envelope"] = obj{"type": "object", "required": []string{"kind", "version", "object"},
			"properties": obj{
				"kind":      obj{"type": "string", "enum": []string{string(k)}},
				"version":   obj{"type": "integer", "format": "int64", "description": "store revision of the last write (0 for objects of files and Kubernetes); in requests, the version the object must still have"},
				"source":    obj{"type": "string", "description": "where the object comes from: api, file or kubernetes; ignored in requests"},
				"namespace": obj{"type": "string", "description": "the object's namespace when not default (Kubernetes); ignored in requests"},
				"object":    ref(name),
			}}
		schemas[name+"List"] = obj{"type": "object", "properties": obj{
			"items":    obj{"type": "array", "items": ref(name + "Envelope")},
			"continue": obj{"type": "string", "description": "pass as ?continue= for the next page; absent on the last"},
			"version":  obj{"type": "integer", "format": "int64", "description": "store revision the page was read at"},
		}}
		anyObject = append(anyObject, ref(name))
		paths["/api/v1/"+k.Plural()] = collectionPath(k, name)
		paths["/api/v1/"+k.Plural()+"/{name}"] = itemPath(k, name)
	}
	batch := schemas["BatchRequest"].(obj)["properties"].(obj)["upserts"].(obj)["items"].(obj)["properties"].(obj)
	batch["object"] = obj{"oneOf": anyObject, "description": "an object of the item's kind"}
	paths["/api/v1/batch"] = obj{"post": op("Apply upserts and deletes all or nothing",
		"Every object is decoded and validated, the whole change is checked (a route may use a service upserted in the same batch), then one commit writes it. Any problem fails the batch and nothing is written.",
		nil, body(ref("BatchRequest")), obj{"200": jsonResponse("written", ref("BatchResponse")), "400": errRef, "409": errRef, "413": errRef})}
	paths["/api/v1/status"] = obj{"get": op("Config version, object counts, last propagation, store state", "", nil, nil, obj{"200": jsonResponse("status", ref("Status"))})}
	paths["/api/v1/nodes"] = obj{"get": op("Gateway nodes (only this one outside a cluster)", "", nil, nil, obj{"200": jsonResponse("nodes", ref("NodeList")), "503": errRef})}
	paths["/api/v1/plugins"] = obj{"get": op("Registered plugins, in execution order", "Each with its phases, the reason for its position, and the JSON schema of its config. Attach plugins with routes' plugins, hostpolicies and globalplugins.", nil, nil, obj{"200": jsonResponse("plugins", ref("PluginList"))})}
	paths["/api/v1/plugins/{name}"] = obj{"get": op("One registered plugin", "", []any{param("name", "path", "the plugin's name", obj{"type": "string"})}, nil, obj{"200": jsonResponse("plugin", ref("PluginInfo")), "404": errRef})}
	paths["/api/v1/openapi.json"] = obj{"get": op("This document", "", nil, nil, obj{"200": jsonResponse("OpenAPI 3.0", obj{"type": "object"})})}
	doc := obj{
		"openapi":  "3.0.3",
		"info":     obj{"title": "Pylon admin API", "version": "v1", "description": apiDescription},
		"paths":    paths,
		"security": []any{obj{"bearer": []string{}}},
		"components": obj{
			"schemas":         schemas,
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}},
			"responses": obj{"Error": obj{"description": "an error; 400 lists every problem",
				"content": obj{"application/json": obj{"schema": ref("Error")}}}},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("admin: openapi: " + err.Error()) // plain maps: a programming error
	}
	return b
}

var errRef = obj{"$ref": "#/components/responses/Error"}

func op(summary, desc string, params []any, req obj, resp obj) obj {
	resp["401"] = errRef
	resp["429"] = errRef
	o := obj{"summary": summary, "responses": resp}
	if desc != "" {
		o["description"] = desc
	}
	if params != nil {
		o["parameters"] = params
	}
	if req != nil {
		o["requestBody"] = req
	}
	return o
}

func body(schema obj) obj {
	return obj{"required": true, "content": obj{"application/json": obj{"schema": schema}}}
}

func jsonResponse(desc string, schema obj) obj {
	return obj{"description": desc, "content": obj{"application/json": obj{"schema": schema}}}
}

func param(name, in, desc string, schema obj) obj {
	return obj{"name": name, "in": in, "description": desc, "required": in == "path", "schema": schema}
}

func collectionPath(k ir.Kind, name string) obj {
	str := obj{"type": "string"}
	return obj{
		"get": op("List "+k.Plural()+" in name order, a page at a time", "", []any{
			param("limit", "query", "page size (default 500, at most 1000)", obj{"type": "integer", "minimum": 1}),
			param("continue", "query", "the continue token of the previous page", str),
		}, nil, obj{"200": jsonResponse("a page", ref(name+"List")), "400": errRef}),
		"post": op("Create a "+string(k), "409 if it exists.", nil,
			body(obj{"oneOf": []any{ref(name), ref(name + "Envelope")}}),
			obj{"201": jsonResponse("created", ref(name+"Envelope")), "400": errRef, "409": errRef, "413": errRef}),
	}
}

func itemPath(k ir.Kind, name string) obj {
	nameParam := param("name", "path", "the object's name", obj{"type": "string"})
	ifMatch := param("If-Match", "header", `the version the object must still have ("12"), or * for any`, obj{"type": "string"})
	return obj{
		"get": op("Get a "+string(k), "The ETag header carries the version.", []any{nameParam}, nil,
			obj{"200": jsonResponse("the object", ref(name+"Envelope")), "404": errRef}),
		"put": op("Create or replace a "+string(k), "Conditional with the envelope's version or If-Match; a stale version is a 409 with the current one.",
			[]any{nameParam, ifMatch}, body(obj{"oneOf": []any{ref(name), ref(name + "Envelope")}}),
			obj{"200": jsonResponse("replaced", ref(name+"Envelope")), "201": jsonResponse("created", ref(name+"Envelope")),
				"400": errRef, "409": errRef, "413": errRef}),
		"delete": op("Delete a "+string(k), "Conditional with If-Match. Answers the deleted object; version is the revision of the delete.",
			[]any{nameParam, ifMatch}, nil,
			obj{"200": jsonResponse("deleted", ref(name+"Envelope")), "400": errRef, "404": errRef, "409": errRef}),
	}
}
