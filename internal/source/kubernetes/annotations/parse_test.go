package annotations

import (
	"strings"
	"testing"
)

func nginx(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[NginxPrefix+kv[i]] = kv[i+1]
	}
	return m
}

// TestEveryAnnotationValidates feeds each annotation in the table one valid
// and one invalid value: the valid one gives the table's note, the invalid
// one an error naming the annotation.
func TestEveryAnnotationValidates(t *testing.T) {
	valid := map[string][2]string{ // name: {valid, invalid}
		"canary": {"true", "yes please"}, "canary-by-header": {"X-Canary", "X Canary"},
		"canary-by-header-value": {"v2", "a b"}, "canary-by-header-pattern": {"^v[23]$", "("},
		"canary-by-cookie": {"canary", "a;b"}, "canary-weight": {"10", "-1"}, "canary-weight-total": {"1000", "0"},
		"rewrite-target": {"/$1", "/a b"}, "use-regex": {"true", "maybe"}, "upstream-vhost": {"internal.example", "a/b"},
		"app-root": {"/app", "app"}, "ssl-redirect": {"false", "nope"}, "force-ssl-redirect": {"true", "x"},
		"permanent-redirect": {"https://example.com/new", "ftp://x"}, "permanent-redirect-code": {"308", "304"},
		"temporal-redirect": {"http://example.com", "/relative"},
		"enable-cors":       {"true", "1x"}, "cors-allow-origin": {"https://a.example, https://b.example", "javascript:x"},
		"cors-allow-methods": {"GET, POST", "GE T"}, "cors-allow-headers": {"X-A, X-B", "X A"},
		"cors-expose-headers": {"X-A", "a b"}, "cors-allow-credentials": {"false", "f4"}, "cors-max-age": {"60", "-1"},
		"proxy-next-upstream": {"error timeout http_502 non_idempotent", "http_999"}, "proxy-next-upstream-tries": {"3", "-1"},
		"proxy-next-upstream-timeout": {"10", "0"}, "proxy-connect-timeout": {"5s", "five"}, "proxy-read-timeout": {"120", "-3"},
		"proxy-send-timeout": {"60", "x"}, "proxy-body-size": {"8m", "8q"}, "backend-protocol": {"GRPCS", "FCGI"},
		"load-balance": {"ewma", "random"}, "upstream-hash-by": {"$http_x_user", "$host$uri"},
		"affinity": {"cookie", "ip"}, "session-cookie-name": {"route", "a b"}, "session-cookie-path": {"/", "x"},
		"session-cookie-max-age": {"3600", "x"}, "session-cookie-expires": {"3600", "-"},
		"whitelist-source-range": {"10.0.0.0/8, 192.168.1.1", "10.0.0.0/33"}, "denylist-source-range": {"2001:db8::/32", "nope"},
		"auth-type": {"basic", "digest"}, "auth-secret": {"basic-auth", "Bad_Name"}, "auth-secret-type": {"auth-map", "file"},
		"auth-realm": {"Protected", "a\"b"}, "auth-tls-secret": {"ns/ca", "a/b/c"},
		"auth-tls-verify-client": {"optional", "maybe"}, "auth-tls-verify-depth": {"2", "0"},
		"auth-tls-pass-certificate-to-upstream": {"true", "x"}, "auth-tls-match-cn": {"CN=client", "CN=(?!admin)"},
		"proxy-ssl-secret": {"ns/client", "a/b/c"}, "proxy-ssl-verify": {"on", "maybe"}, "proxy-ssl-name": {"up.internal", "a b"},
		"proxy-ssl-server-name": {"on", "x"}, "limit-rps": {"10", "0"}, "limit-rpm": {"600", "x"}, "limit-connections": {"5", "-2"},
		"default-backend": {"errors", "Errors!"}, "allowlist-source-range": {"10.0.0.0/8", "x"}, "server-alias": {"www.example.com, Example.org", "a b"}, "from-to-www-redirect": {"true", "yes"}, "limit-burst-multiplier": {"3", "0"}, "custom-http-errors": {"404,503", "200"},
		"enable-access-log": {"false", "off-ish"}, "tag-header": {"x-pylon-tag", "x:tag"},
		"enable-modsecurity": {"true", "on-ish"}, "enable-owasp-core-rules": {"true", "yes!"},
		"modsecurity-transaction-id": {"$request_id", "a b"}, "waf-mode": {"block", "prevent"}, "waf-paranoia-level": {"2", "5"},
		"tag-fallback": {"true", "maybe"}, "zone-aware": {"{minHealthyShare: 0.7, maxLoadFactor: 2}", "{maxLoadFactor: 0.5}"},
	}
	for _, s := range Table() {
		v, ok := valid[s.Name]
		if !ok {
			t.Errorf("annotation %s has no test values", s.Name)
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			if v[0] != "" {
				ann := nginx(s.Name, v[0])
				_, notes, err := Parse(ann)
				if err != nil && !strings.Contains(err.Error(), "needs") && !strings.Contains(err.Error(), "need ") {
					t.Errorf("valid %q: %v", v[0], err)
				}
				if len(notes) != 1 || notes[0].Annotation != NginxPrefix+s.Name {
					t.Errorf("notes = %+v", notes)
				}
			}
			_, notes, err := Parse(nginx(s.Name, v[1]))
			if err == nil || !strings.Contains(err.Error(), "annotation "+NginxPrefix+s.Name+":") {
				t.Errorf("invalid %q: error %v does not name the annotation", v[1], err)
			}
			if len(notes) != 1 || notes[0].Status != Rejected {
				t.Errorf("invalid %q: notes = %+v", v[1], notes)
			}
		})
	}
}

func TestPylonPrefixWins(t *testing.T) {
	c, notes, err := Parse(map[string]string{NginxPrefix + "proxy-connect-timeout": "5", PylonPrefix + "proxy-connect-timeout": "7"})
	if err != nil || c.ConnectTimeout.Seconds() != 7 {
		t.Fatalf("timeout %v, err %v", c.ConnectTimeout, err)
	}
	if len(notes) != 1 || notes[0].Annotation != PylonPrefix+"proxy-connect-timeout" {
		t.Fatalf("notes = %+v", notes)
	}
}

func TestSnippetsAndUnknown(t *testing.T) {
	_, notes, err := Parse(nginx("configuration-snippet", "more_set_headers x;", "server-snippet", "x", "auth-snippet", "x",
		"mirror-target", "http://x", "ssl-ciphers", "ALL"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"auth-snippet": Rejected, "configuration-snippet": Rejected, "server-snippet": Rejected, "mirror-target": Unsupported, "ssl-ciphers": Unsupported}
	if len(notes) != len(want) {
		t.Fatalf("notes = %+v", notes)
	}
	for _, n := range notes {
		if want[strings.TrimPrefix(n.Annotation, NginxPrefix)] != n.Status {
			t.Errorf("%s: %s (%s)", n.Annotation, n.Status, n.Message)
		}
		if n.Status == Rejected && !strings.Contains(n.Message, "injection") {
			t.Errorf("%s: message does not say why: %s", n.Annotation, n.Message)
		}
	}
}

func TestCombinations(t *testing.T) {
	c, notes, err := Parse(nginx("enable-cors", "true", "cors-allow-origin", "https://a.example", "cors-max-age", "5", "permanent-redirect", "https://x.example/", "permanent-redirect-code", "308", "session-cookie-name", "s"))
	if err != nil {
		t.Fatal(err)
	}
	if c.CORS == nil || c.CORS.AllowOrigins[0] != "https://a.example" || c.CORS.MaxAge != 5 || !c.CORS.AllowCredentials || len(c.CORS.AllowMethods) != 6 {
		t.Errorf("cors = %+v", c.CORS)
	}
	if c.Redirect.Code != 308 {
		t.Errorf("redirect = %+v", c.Redirect)
	}
	for _, n := range notes {
		if strings.HasSuffix(n.Annotation, "session-cookie-name") && n.Status != Unsupported {
			t.Errorf("session-cookie-name without affinity: %+v", n)
		}
	}
	for _, bad := range []map[string]string{
		nginx("canary-weight", "10"),
		nginx("canary", "true", "canary-weight", "200"),
		nginx("canary", "true", "canary-by-header-value", "x"),
		nginx("auth-type", "basic"),
		nginx("custom-http-errors", "404"),
		nginx("affinity", "cookie", "upstream-hash-by", "$uri"),
	} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
