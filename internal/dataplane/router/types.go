// Package router matches HTTP requests to routes: first the host, through an
// index that can replace one host without copying the others, then the path
// and the method, header and query predicates inside that host's immutable
// table.
//
// The package imports nothing else from Pylon. The compile stage converts the
// IR into Entry values, builds a HostTable per host with CompileHost and
// publishes changed hosts with Router.Apply. Matching never locks and never
// allocates, so a request never waits on a config change.
package router

// PathKind says how PathMatch.Value is compared with the request path.
type PathKind uint8

const (
	// PathPrefix matches when the raw path starts with Value, as a plain
	// string prefix (like an nginx location or an Envoy prefix): "/api"
	// matches "/api", "/api/v1" and "/apix".
	PathPrefix PathKind = iota
	// PathExact matches when the raw path equals Value byte for byte.
	PathExact
	// PathRegex matches when the whole raw path matches the RE2 expression
	// Value; the expression is anchored at both ends.
	PathRegex
)

// String returns the field name used for the kind in error messages.
func (k PathKind) String() string {
	switch k {
	case PathPrefix:
		return "prefix"
	case PathExact:
		return "exact"
	case PathRegex:
		return "regex"
	}
	return "unknown"
}

// PathMatch is the path condition of an Entry. Prefix and exact values must
// start with "/".
type PathMatch struct {
	Kind  PathKind
	Value string
}

// StringMatchKind says how a header or query value is compared.
type StringMatchKind uint8

const (
	// MatchExact matches when the value equals StringMatch.Value.
	MatchExact StringMatchKind = iota
	// MatchRegex matches when the whole value matches the RE2 expression
	// StringMatch.Value (anchored at both ends).
	MatchRegex
	// MatchPresent matches when the header or query parameter is present,
	// whatever its value. StringMatch.Value must be empty.
	MatchPresent
)

// String returns the field name used for the kind in error messages.
func (k StringMatchKind) String() string {
	switch k {
	case MatchExact:
		return "exact"
	case MatchRegex:
		return "regex"
	case MatchPresent:
		return "present"
	}
	return "unknown"
}

// StringMatch is a condition on one header or query value.
type StringMatch struct {
	Kind  StringMatchKind
	Value string
}

// HeaderMatch is a condition on a request header. Name is compared case
// insensitively.
type HeaderMatch struct {
	Name  string
	Match StringMatch
}

// QueryMatch is a condition on a query parameter. Name is case sensitive.
type QueryMatch struct {
	Name  string
	Match StringMatch
}

// Entry is one route as the router sees it. T is the payload the compile
// stage attaches (a pointer type in practice); the router never looks at it.
type Entry[T any] struct {
	// Key is the stable route identity, e.g. "file/default/echo". It breaks
	// ties between otherwise equal candidates and names the route in errors.
	Key  string
	Path PathMatch
	// Methods lists the accepted methods, compared case sensitively as HTTP
	// does. Empty accepts any method.
	Methods []string
	// Headers must all match.
	Headers []HeaderMatch
	// Query must all match.
	Query []QueryMatch
	// OnlyPlainHTTP makes the entry no candidate for requests that arrived
	// over TLS (an http-to-https redirect), so another entry serves them.
	OnlyPlainHTTP bool
	// Priority orders candidates: higher first, before any path ordering.
	Priority int32
	Value    T
}

// Request is what predicates read. The proxy implements it over its own
// request context; implementations must not allocate, because matching runs
// on every request.
type Request interface {
	Method() []byte
	// Header returns the first value of the named header. The name is
	// always given in lowercase.
	Header(name string) ([]byte, bool)
	// Query returns the first value of the named query parameter.
	Query(name string) ([]byte, bool)
	// TLS reports whether the request arrived over TLS.
	TLS() bool
}
