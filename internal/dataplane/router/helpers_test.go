package router

import "testing"

// fakeReq is a Request over prepared byte slices, so that it does not
// allocate and can be used in allocation tests.
type fakeReq struct {
	method  []byte
	headers map[string][]byte // lowercase names
	query   map[string][]byte
	tls     bool
}

func (r *fakeReq) Method() []byte { return r.method }

func (r *fakeReq) TLS() bool { return r.tls }

func (r *fakeReq) Header(name string) ([]byte, bool) {
	v, ok := r.headers[name]
	return v, ok
}

func (r *fakeReq) Query(name string) ([]byte, bool) {
	v, ok := r.query[name]
	return v, ok
}

var _ Request = (*fakeReq)(nil)

// req builds a fakeReq; kv alternates "h:name", value or "q:name", value.
func req(method string, kv ...string) *fakeReq {
	r := &fakeReq{method: []byte(method), headers: map[string][]byte{}, query: map[string][]byte{}}
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i][:2] {
		case "h:":
			r.headers[kv[i][2:]] = []byte(kv[i+1])
		case "q:":
			r.query[kv[i][2:]] = []byte(kv[i+1])
		}
	}
	return r
}

// mustCompile compiles entries whose Value is their Key.
func mustCompile(tb testing.TB, entries ...Entry[string]) *HostTable[string] {
	tb.Helper()
	for i := range entries {
		entries[i].Value = entries[i].Key
	}
	t, err := CompileHost(entries)
	if err != nil {
		tb.Fatalf("CompileHost: %v", err)
	}
	return t
}

func prefix(key, p string) Entry[string] {
	return Entry[string]{Key: key, Path: PathMatch{Kind: PathPrefix, Value: p}}
}

func exact(key, p string) Entry[string] {
	return Entry[string]{Key: key, Path: PathMatch{Kind: PathExact, Value: p}}
}

func regex(key, p string) Entry[string] {
	return Entry[string]{Key: key, Path: PathMatch{Kind: PathRegex, Value: p}}
}

func withPrio(e Entry[string], p int32) Entry[string] {
	e.Priority = p
	return e
}

func withMethods(e Entry[string], m ...string) Entry[string] {
	e.Methods = m
	return e
}

func withHeader(e Entry[string], name string, kind StringMatchKind, v string) Entry[string] {
	e.Headers = append(e.Headers, HeaderMatch{Name: name, Match: StringMatch{Kind: kind, Value: v}})
	return e
}

func withQuery(e Entry[string], name string, kind StringMatchKind, v string) Entry[string] {
	e.Query = append(e.Query, QueryMatch{Name: name, Match: StringMatch{Kind: kind, Value: v}})
	return e
}
