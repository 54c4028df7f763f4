package ir

import (
	"strings"
	"testing"
)

func TestRouteRedirectOnlyPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		rd   Redirect
		want string // "" = valid
	}{
		{"to https", Redirect{Scheme: "https", Code: 308, OnlyPlainHTTP: true}, ""},
		{"to another host", Redirect{Host: "www.example.com", OnlyPlainHTTP: true}, ""},
		{"to another port", Redirect{Port: 8443, OnlyPlainHTTP: true}, ""},
		{"to another path", Redirect{Path: "/moved", OnlyPlainHTTP: true}, ""},
		{"nothing changes", Redirect{OnlyPlainHTTP: true}, "redirect.onlyPlainHTTP: the redirect would point plain-HTTP requests at the URL they asked for"},
		{"plain to plain", Redirect{Scheme: "http", Code: 301, OnlyPlainHTTP: true}, "redirect.onlyPlainHTTP"},
		{"without it", Redirect{Scheme: "http"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Route{Name: "to-https", Redirect: &tc.rd}
			err := r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), `route "to-https": `+tc.want):
				t.Fatalf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestRouteRedirectOnlyPlainHTTPDecodes(t *testing.T) {
	res, err := DecodeJSON(KindRoute, []byte(`{"name":"to-https","redirect":{"scheme":"https","code":308,"onlyPlainHTTP":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if rd := res.(*Route).Redirect; rd == nil || !rd.OnlyPlainHTTP {
		t.Fatalf("redirect %+v", rd)
	}
}
