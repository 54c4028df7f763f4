package ir

import (
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		in   string
		want string // substring of the error; "" = ok
	}{
		{KindRoute, `{"name":"a","backends":[{"service":"s"}]}`, ""},
		{KindService, `{"name":"s","endpoints":["127.0.0.1:1",{"address":"127.0.0.1:2","weight":2}]}`, ""},
		{KindRoute, `{"name":"a","bogus":1}`, `route "": bogus: unknown field`},
		{KindRoute, `{"name":"a","priority":"high"}`, `priority: must be int32`},
		{KindRoute, `{"name":"a"`, `truncated`},
		{KindRoute, `{"name":"a"} {}`, `unexpected data`},
		{KindRoute, `[1,2]`, `must be`},
		{KindService, `{"name":"s","connectTimeout":"soon"}`, `invalid duration`},
		{KindService, `{"name":"s","connectTimeout":1e300}`, `invalid duration`},
		{KindService, `{"name":"s","connectTimeout":-1}`, `invalid duration`},
		{KindService, `{"name":"s","endpoints":[{"address":"127.0.0.1:1","wieght":2}]}`, `unknown field`},
	} {
		_, err := DecodeJSON(tc.kind, []byte(tc.in))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"name":"a","hosts":["x.test"],"backends":[{"service":"s","weight":1}]}`))
	f.Add([]byte(`{"name":"s","endpoints":["127.0.0.1:1"],"healthCheck":{"active":{"interval":"1s"}}}`))
	f.Add([]byte(`{"name":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range Kinds {
			r, err := DecodeJSON(k, data)
			if err == nil {
				_ = r.Validate()
				_ = Hash(r)
			} else if !strings.Contains(err.Error(), string(k)) {
				t.Fatalf("error does not name the kind: %v", err)
			}
		}
	})
}
