package router

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// CompileHost validates entries and builds the immutable table for one host.
// Every problem is reported, each naming the entry Key and the field, joined
// with errors.Join; on error the table is nil so the caller keeps serving the
// last good one.
func CompileHost[T any](entries []Entry[T]) (*HostTable[T], error) {
	var errs []error
	// Routes live in one backing array so a host's routes sit together in
	// memory; candidate lists point into it.
	routes := make([]route[T], len(entries))
	var seen map[string]struct{} // one entry cannot repeat a key
	if len(entries) > 1 {
		seen = make(map[string]struct{}, len(entries))
	}
	for i := range entries {
		e := &entries[i]
		if e.Key == "" {
			errs = append(errs, fmt.Errorf("router: entry %d: key is empty", i))
			continue
		}
		if _, dup := seen[e.Key]; dup {
			errs = append(errs, fmt.Errorf("route %q: duplicate key", e.Key))
			continue
		}
		if seen != nil {
			seen[e.Key] = struct{}{}
		}
		for _, err := range compileEntry(e, &routes[i]) {
			errs = append(errs, fmt.Errorf("route %q: %w", e.Key, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return buildTable(entries, routes), nil
}

// compileEntry validates one entry and fills its route. It returns every
// problem separately so that each line of the joined error names the route.
func compileEntry[T any](e *Entry[T], r *route[T]) []error {
	var errs []error
	r.key, r.value, r.kind, r.path = e.Key, e.Value, e.Path.Kind, e.Path.Value
	switch e.Path.Kind {
	case PathPrefix, PathExact:
		if err := checkPath(e.Path.Value); err != nil {
			errs = append(errs, fmt.Errorf("path.%s: %w", e.Path.Kind, err))
		}
	case PathRegex:
		re, err := compileAnchored(e.Path.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("path.regex: %w", err))
		}
		r.re = re
	default:
		errs = append(errs, fmt.Errorf("path: unknown kind %d", e.Path.Kind))
	}
	for i, m := range e.Methods {
		if !isToken(m) {
			errs = append(errs, fmt.Errorf("methods[%d]: invalid method %q", i, m))
		}
	}
	r.methods = slices.Clone(e.Methods)
	r.headers = make([]pred, len(e.Headers))
	for i, h := range e.Headers {
		field := fmt.Sprintf("headers[%d]", i)
		errs = append(errs, r.headers[i].compile(field, strings.ToLower(h.Name), h.Match, isToken)...)
	}
	r.query = make([]pred, len(e.Query))
	for i, q := range e.Query {
		field := fmt.Sprintf("query[%d]", i)
		errs = append(errs, r.query[i].compile(field, q.Name, q.Match, isPrintable)...)
	}
	r.npred = len(e.Headers) + len(e.Query)
	if len(e.Methods) > 0 {
		r.npred++
	}
	if r.plainOnly = e.OnlyPlainHTTP; r.plainOnly {
		r.npred++
	}
	return errs
}

// compile validates one header or query condition; field names it in errors,
// e.g. "headers[2]".
func (p *pred) compile(field, name string, m StringMatch, validName func(string) bool) []error {
	var errs []error
	p.name, p.kind, p.value = name, m.Kind, m.Value
	if name == "" {
		errs = append(errs, fmt.Errorf("%s.name: empty", field))
	} else if !validName(name) {
		errs = append(errs, fmt.Errorf("%s.name: invalid name %q", field, name))
	}
	switch m.Kind {
	case MatchExact:
	case MatchRegex:
		re, err := compileAnchored(m.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.regex: %w", field, err))
		}
		p.re = re
	case MatchPresent:
		if m.Value != "" {
			errs = append(errs, fmt.Errorf("%s.present: value must be empty, got %q", field, m.Value))
		}
	default:
		errs = append(errs, fmt.Errorf("%s.match: unknown kind %d", field, m.Kind))
	}
	return errs
}

// compileAnchored compiles expr as a full match. The expression is first
// compiled as written so the error message quotes the user's text, not our
// anchoring wrapper.
func compileAnchored(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, errors.New("empty expression")
	}
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// checkPath rejects prefix and exact values that could never match a raw
// request path, because such a route is almost always a typo.
func checkPath(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("must start with \"/\", got %q", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' {
			return fmt.Errorf("invalid byte %q at offset %d in %q", c, i, p)
		}
	}
	return nil
}

// isPrintable reports whether s holds no ASCII control bytes or spaces. Query
// parameter names are looser than tokens ("ids[]" is common), but a control
// byte in one is always a mistake.
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token, the syntax of methods and
// header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
