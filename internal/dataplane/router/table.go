package router

import "regexp"

// HostTable is the compiled, immutable route table of one host. It is built
// by CompileHost and never changes afterwards, so any number of goroutines
// may match against it while a newer table replaces it in the Router.
//
// The layout is chosen for a cold cache, since with 100k hosts most lookups
// start from memory: the first priority level is inline, small levels are
// scanned linearly instead of hashed, the path strings share one allocation
// and routes sharing a path sit next to each other in one slice.
type HostTable[T any] struct {
	first level[T]   // the highest priority; usually the only one
	rest  []level[T] // lower priorities, highest first
	// routes holds every route in match order; spans index into it.
	routes []route[T]
}

// level holds the candidates of one priority in match order: exact paths,
// then prefixes longest first, then regexes.
type level[T any] struct {
	// exact is set when the level has more exact paths than a linear scan
	// handles well; otherwise they lead paths.
	exact map[string]span
	// paths holds the exact paths (when exact is nil) followed by one entry
	// per distinct prefix length, longest first, so a lookup costs one
	// probe per length, not one per prefix.
	paths   []pathEntry[T]
	regexes []regexGroup
}

// maxLinearExact is the number of exact paths up to which a scan comparing
// lengths first beats a map probe.
const maxLinearExact = 8

// span is the range routes[lo:hi] of the candidates for one path.
type span struct{ lo, hi int32 }

// inlinePath is the longest path kept inside its pathEntry; longer ones are
// compared through the table's arena, one more cache line.
const inlinePath = 24

// pathEntry is an exact path, or the prefixes of one length: a single one
// (the usual case, a string compare) or several in m.
type pathEntry[T any] struct {
	// val is the answer when direct: the first candidate has no predicates,
	// so the lookup needs nothing beyond this entry.
	val    T
	m      map[string]span
	path   string // in the arena
	sp     span
	n      int32 // length of the path or prefix
	exact  bool
	direct bool
	short  [inlinePath]byte // path[:n] when n <= inlinePath
}

// is reports whether p (already cut to e.n bytes) is this entry's path.
func (e *pathEntry[T]) is(p []byte) bool {
	if e.n <= inlinePath {
		return string(p) == string(e.short[:e.n])
	}
	return string(p) == e.path
}

// regexGroup holds the routes sharing one path expression, evaluated once.
type regexGroup struct {
	re *regexp.Regexp
	sp span
}

// route is one compiled Entry.
type route[T any] struct {
	// npred and value come first: most lookups read nothing else.
	npred   int
	value   T
	methods []string
	headers []pred
	query   []pred
	key     string
	kind    PathKind
	path    string
	re      *regexp.Regexp
	// plainOnly: no candidate for requests over TLS.
	plainOnly bool
}

// pred is one compiled header or query condition.
type pred struct {
	name  string
	kind  StringMatchKind
	value string
	re    *regexp.Regexp
}

// Len returns the number of routes in the table.
func (t *HostTable[T]) Len() int { return len(t.routes) }

// Match returns the value of the first route of this table matching path and
// req. Path is the raw path without the query string. It never allocates.
func (t *HostTable[T]) Match(path []byte, req Request) (T, bool) {
	if v := t.lookup(path, req); v != nil {
		return *v, true
	}
	var zero T
	return zero, false
}

// lookup returns a pointer to the winning value, or nil.
func (t *HostTable[T]) lookup(path []byte, req Request) *T {
	if v := t.first.lookup(t.routes, path, req); v != nil {
		return v
	}
	for i := range t.rest {
		if v := t.rest[i].lookup(t.routes, path, req); v != nil {
			return v
		}
	}
	return nil
}

func (lv *level[T]) lookup(routes []route[T], path []byte, req Request) *T {
	if lv.exact != nil {
		if sp, ok := lv.exact[string(path)]; ok {
			if v := firstMatch(routes, sp, req); v != nil {
				return v
			}
		}
	}
	for i := range lv.paths {
		e := &lv.paths[i]
		sp := e.sp
		switch {
		case e.exact:
			if len(path) != int(e.n) || !e.is(path) {
				continue
			}
		case int(e.n) > len(path):
			continue
		case e.m == nil:
			if !e.is(path[:e.n]) {
				continue
			}
		default:
			var ok bool
			if sp, ok = e.m[string(path[:e.n])]; !ok {
				continue
			}
		}
		if e.direct && e.m == nil {
			return &e.val
		}
		if v := firstMatch(routes, sp, req); v != nil {
			return v
		}
	}
	for i := range lv.regexes {
		g := &lv.regexes[i]
		if g.re.Match(path) {
			if v := firstMatch(routes, g.sp, req); v != nil {
				return v
			}
		}
	}
	return nil
}

func firstMatch[T any](routes []route[T], sp span, req Request) *T {
	for i := sp.lo; i < sp.hi; i++ {
		if r := &routes[i]; r.npred == 0 || r.matches(req) {
			return &r.value
		}
	}
	return nil
}

// matches evaluates the method, header and query predicates. A nil Request
// fails every predicate rather than panicking.
func (r *route[T]) matches(req Request) bool {
	if req == nil {
		return false
	}
	if r.plainOnly && req.TLS() {
		return false
	}
	if len(r.methods) > 0 {
		if !hasMethod(r.methods, req.Method()) {
			return false
		}
	}
	for i := range r.headers {
		p := &r.headers[i]
		if v, ok := req.Header(p.name); !ok || !p.match(v) {
			return false
		}
	}
	for i := range r.query {
		p := &r.query[i]
		if v, ok := req.Query(p.name); !ok || !p.match(v) {
			return false
		}
	}
	return true
}

func hasMethod(methods []string, m []byte) bool {
	for _, s := range methods {
		if s == string(m) {
			return true
		}
	}
	return false
}

func (p *pred) match(v []byte) bool {
	switch p.kind {
	case MatchExact:
		return string(v) == p.value
	case MatchRegex:
		return p.re.Match(v)
	}
	return true // MatchPresent; the caller checked presence.
}
