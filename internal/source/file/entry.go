package file

import (
	"fmt"

	"pylon.io/pylon/internal/ir"
)

// Source and namespace of every key this package produces.
const (
	keySource    = "file"
	keyNamespace = "default"
)

// Entry is one object from a file, with where it was written.
type Entry struct {
	Object ir.Object
	File   string
	Line   int
	// Partial marks an object with problems of its own, read as far as it
	// could be (LoadToCheck only); Skip names the fields left out of it.
	Partial bool
	Skip    []string
}

// Error is one problem in a config file. Err is an *ir.FieldError when the
// problem belongs to one object, so callers can find its kind, name and field.
type Error struct {
	File string
	Line int // 0 when the problem has no line (a read error)
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// section is one top-level key of a config document and the resource kind
// listed under it. Adding a kind (plugins, hostPolicies) is one line in
// sections; everything else is driven by reflection over its yaml tags.
type section struct {
	key  string
	kind ir.Kind
	new  func() ir.Resource
}

var sections = []section{
	{"listeners", ir.KindListener, func() ir.Resource { return new(ir.Listener) }},
	{"services", ir.KindService, func() ir.Resource { return new(ir.Service) }},
	{"routes", ir.KindRoute, func() ir.Resource { return new(ir.Route) }},
	{"certificates", ir.KindCertificate, func() ir.Resource { return new(ir.Certificate) }},
	{"hostPolicies", ir.KindHostPolicy, func() ir.Resource { return new(ir.HostPolicy) }},
	{"consumers", ir.KindConsumer, func() ir.Resource { return new(ir.Consumer) }},
	{"plugins", ir.KindGlobalPlugin, func() ir.Resource { return new(ir.GlobalPlugin) }},
	// The discovery list: connections to service registries, named by
	// the services' discovery blocks.
	{"discovery", ir.KindDiscoveryProvider, func() ir.Resource { return new(ir.DiscoveryProvider) }},
}

func findSection(key string) (section, bool) {
	for _, s := range sections {
		if s.key == key {
			return s, true
		}
	}
	return section{}, false
}

func sectionKeys() string {
	s := ""
	for _, sec := range sections {
		s += sec.key + ", "
	}
	return s + telemetryKey
}

func objectKey(kind ir.Kind, name string) ir.Key {
	return ir.Key{Kind: kind, Source: keySource, Namespace: keyNamespace, Name: name}
}

func fieldErr(kind ir.Kind, name, field, format string, args ...any) *ir.FieldError {
	return &ir.FieldError{Kind: kind, Name: name, Field: field, Msg: fmt.Sprintf(format, args...)}
}
