package router

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// buildTable arranges validated routes (compiled[i] is entries[i]) into
// priority levels and match order.
func buildTable[T any](entries []Entry[T], compiled []route[T]) *HostTable[T] {
	if len(compiled) == 1 {
		return singleTable(compiled)
	}
	return buildLevels(entries, compiled)
}

// singleTable is the table of a host with one route, the common case at
// scale (a host per route): the table buildLevels makes of it, without the
// maps that sort many routes into levels and paths (at 100,000 hosts they
// were most of a first load's table-building time and garbage). Its path
// needs no arena: one string is already in one place.
func singleTable[T any](compiled []route[T]) *HostTable[T] {
	// The table's one route is compiled[0] itself: adding it copies it onto
	// itself instead of into a new array.
	r := &compiled[0]
	b := &builder[T]{routes: compiled[:0:1]}
	c := []*route[T]{r}
	var lv level[T]
	switch r.kind {
	case PathExact, PathPrefix:
		lv.paths = []pathEntry[T]{b.entry(r.path, c, r.kind == PathExact)}
	case PathRegex:
		lv.regexes = []regexGroup{{re: r.re, sp: b.add(c)}}
	}
	return &HostTable[T]{first: lv, routes: b.routes}
}

// buildLevels is buildTable for any number of routes.
func buildLevels[T any](entries []Entry[T], compiled []route[T]) *HostTable[T] {
	byPrio := make(map[int32][]*route[T])
	for i := range compiled {
		p := entries[i].Priority
		byPrio[p] = append(byPrio[p], &compiled[i])
	}
	prios := slices.Sorted(maps.Keys(byPrio))
	slices.Reverse(prios)
	b := &builder[T]{
		routes: make([]route[T], 0, len(compiled)),
		arena:  newArena(compiled),
	}
	t := &HostTable[T]{}
	for i, p := range prios {
		lv := b.level(byPrio[p])
		if i == 0 {
			t.first = lv
		} else {
			t.rest = append(t.rest, lv)
		}
	}
	t.routes = b.routes
	return t
}

type builder[T any] struct {
	routes []route[T]
	arena  map[string]string
}

// add appends candidates for one path in candidate order and returns their
// span.
func (b *builder[T]) add(c []*route[T]) span {
	slices.SortFunc(c, byCandidateOrder)
	lo := len(b.routes)
	for _, r := range c {
		b.routes = append(b.routes, *r)
	}
	return span{int32(lo), int32(len(b.routes))}
}

// entry builds the pathEntry of one exact path or one prefix alone at its
// length.
func (b *builder[T]) entry(p string, c []*route[T], exact bool) pathEntry[T] {
	e := pathEntry[T]{path: p, n: int32(len(p)), exact: exact, sp: b.add(c)}
	if b.arena != nil {
		e.path = b.arena[p]
	}
	copy(e.short[:], p)
	if first := &b.routes[e.sp.lo]; first.npred == 0 {
		e.direct, e.val = true, first.value
	}
	return e
}

func (b *builder[T]) level(rs []*route[T]) level[T] {
	var lv level[T]
	exact := map[string][]*route[T]{}
	prefix := map[string][]*route[T]{}
	regex := map[string][]*route[T]{}
	for _, r := range rs {
		switch r.kind {
		case PathExact:
			exact[r.path] = append(exact[r.path], r)
		case PathPrefix:
			prefix[r.path] = append(prefix[r.path], r)
		case PathRegex:
			regex[r.path] = append(regex[r.path], r)
		}
	}
	// Sorting keeps the table layout deterministic for equal input.
	if len(exact) > maxLinearExact {
		lv.exact = make(map[string]span, len(exact))
		for _, p := range slices.Sorted(maps.Keys(exact)) {
			lv.exact[b.arena[p]] = b.add(exact[p])
		}
	} else {
		for _, p := range slices.Sorted(maps.Keys(exact)) {
			lv.paths = append(lv.paths, b.entry(p, exact[p], true))
		}
	}
	byLen := map[int][]string{}
	for p := range prefix {
		byLen[len(p)] = append(byLen[len(p)], p)
	}
	lens := slices.Sorted(maps.Keys(byLen))
	slices.Reverse(lens)
	for _, n := range lens {
		ps := slices.Sorted(slices.Values(byLen[n]))
		if len(ps) == 1 {
			lv.paths = append(lv.paths, b.entry(ps[0], prefix[ps[0]], false))
			continue
		}
		e := pathEntry[T]{n: int32(n), m: make(map[string]span, len(ps))}
		for _, p := range ps {
			e.m[b.arena[p]] = b.add(prefix[p])
		}
		lv.paths = append(lv.paths, e)
	}
	// Regexes run in Key order; a group sharing one expression takes the
	// place of its smallest Key.
	groups := slices.Collect(maps.Values(regex))
	slices.SortFunc(groups, func(a, b []*route[T]) int {
		return strings.Compare(minKey(a), minKey(b))
	})
	for _, c := range groups {
		lv.regexes = append(lv.regexes, regexGroup{re: c[0].re, sp: b.add(c)})
	}
	return lv
}

// newArena copies the distinct exact and prefix paths of a table into one
// string and maps each path to its copy, so a lookup touching several paths
// touches one or two cache lines instead of one allocation per path.
func newArena[T any](rs []route[T]) map[string]string {
	var all strings.Builder
	var paths []string
	seen := map[string]bool{}
	for i := range rs {
		if p := rs[i].path; rs[i].kind != PathRegex && !seen[p] {
			seen[p] = true
			paths = append(paths, p)
			all.WriteString(p)
		}
	}
	s := all.String()
	arena := make(map[string]string, len(paths))
	off := 0
	for _, p := range paths {
		arena[p] = s[off : off+len(p)]
		off += len(p)
	}
	return arena
}

func minKey[T any](rs []*route[T]) string {
	k := rs[0].key
	for _, r := range rs[1:] {
		k = min(k, r.key)
	}
	return k
}

// byCandidateOrder orders routes sharing one path: more predicates first (the
// more specific route must get its chance before a catch-all), then Key.
func byCandidateOrder[T any](a, b *route[T]) int {
	if c := cmp.Compare(b.npred, a.npred); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}
