package ir

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one problem with one field of one object.
type FieldError struct {
	Kind  Kind
	Name  string
	Field string // dotted path, e.g. "match.path.regex" or "backends[0].service"
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s %q: %s", e.Kind, e.Name, e.Msg)
	}
	return fmt.Sprintf("%s %q: %s: %s", e.Kind, e.Name, e.Field, e.Msg)
}

// FieldErrors flattens err (possibly joined) into its field errors; other
// errors are returned as FieldErrors without a field.
func FieldErrors(err error) []*FieldError {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, FieldErrors(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return []*FieldError{{Msg: err.Error()}}
}

// problems collects field errors for one object.
type problems struct {
	kind Kind
	name string
	errs []error
}

func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Kind: p.kind, Name: p.name, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// validName reports whether s is usable as an object name: DNS-label-like
// characters plus '.', '_' and '/', so Kubernetes-derived names fit.
func validName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '/':
		default:
			return false
		}
	}
	// '/' separates namespace-like segments (Kubernetes-derived names); a
	// segment must not be empty, "." or "..", or a URL naming the object
	// would, once cleaned, name another one.
	for _, seg := range strings.Split(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func checkName(p *problems, name string) {
	if !validName(name) {
		p.add("name", "must be 1-253 characters of letters, digits, '-', '.', '_' or '/', with no empty, '.' or '..' segment between '/' (got %q)", name)
	}
}
