package e2e

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// htpasswdSHA returns "user:{SHA}…" lines for user=password pairs.
func htpasswdSHA(users ...string) string {
	var b strings.Builder
	for _, u := range users {
		sum := sha1.Sum([]byte(u + "-pw"))
		fmt.Fprintf(&b, "%s:{SHA}%s\\n", u, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return b.String()
}

func basicAuth(user string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+user+"-pw"))
}

// Consumer scope: once basic-auth names the user, the consumer of that
// name adds, replaces or turns off plugins for the rest of the request;
// users without a consumer get the route's plugins; consumer state
// survives edits to other consumers.
func TestConsumerScope(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	routePlugins := `plugins: [{name: basic-auth, config: {htpasswd: "` + htpasswdSHA("alice@example.com", "bob", "carol") + `"}},` +
		` {name: rate-limit, config: {rate: 4, period: 1h, key: consumer, algorithm: fixed-window}}]`
	consumers := func(bobTier string) string {
		return "consumers:\n" +
			"  - name: alice@example.com\n    plugins:\n" +
			"      - {name: rate-limit, config: {rate: 2, period: 1h, key: consumer, algorithm: fixed-window}}\n" +
			"      - {name: headers, config: {response: {set: [{name: X-Tier, value: gold}]}}}\n" +
			"  - name: bob\n    plugins:\n" +
			"      - {name: rate-limit, disabled: true}\n" +
			"      - {name: headers, config: {response: {set: [{name: X-Tier, value: " + bobTier + "}]}}}\n"
	}
	gw := startGateway(t, pluginConfig(listen, a, consumers("silver"), route("api", "api.example.com", "a", routePlugins)))
	c := newClient()
	get := func(user string) response {
		if user == "" {
			return do(t, c, "GET", "http://"+listen+"/", "api.example.com")
		}
		return do(t, c, "GET", "http://"+listen+"/", "api.example.com", basicAuth(user))
	}
	if r := get(""); r.Status != 401 {
		t.Fatalf("no credentials: %d, want 401 (auth runs before any consumer)", r.Status)
	}
	// alice: her own limit of 2 replaces the route's 4, and her header.
	for i := range 2 {
		if r := get("alice@example.com"); r.Status != 200 || r.Header.Get("X-Tier") != "gold" {
			t.Fatalf("alice request %d: %d, X-Tier %q", i+1, r.Status, r.Header.Get("X-Tier"))
		}
	}
	if r := get("alice@example.com"); r.Status != 429 {
		t.Fatalf("alice 3rd request: %d, want 429 from her consumer limit", r.Status)
	}
	// bob: the route's limit is turned off for him.
	for i := range 8 {
		if r := get("bob"); r.Status != 200 || r.Header.Get("X-Tier") != "silver" {
			t.Fatalf("bob request %d: %d, X-Tier %q", i+1, r.Status, r.Header.Get("X-Tier"))
		}
	}
	// carol has no consumer object: the route's limit of 4, no tier.
	for i := range 4 {
		if r := get("carol"); r.Status != 200 || r.Header.Get("X-Tier") != "" {
			t.Fatalf("carol request %d: %d, X-Tier %q", i+1, r.Status, r.Header.Get("X-Tier"))
		}
	}
	if r := get("carol"); r.Status != 429 {
		t.Fatalf("carol 5th request: %d, want the route's 429", r.Status)
	}

	// Editing bob neither resets alice's count nor fails a request.
	before := gw.debugConfig().Version
	writeFile(t, gw.config, pluginConfig(listen, a, consumers("bronze"), route("api", "api.example.com", "a", routePlugins)))
	eventually(t, 2*time.Second, "bob's edit applied", func() (bool, string) {
		st := gw.debugConfig()
		return st.Version > before && len(st.Rejected) == 0, fmt.Sprintf("version %d, rejected %v", st.Version, st.Rejected)
	})
	if r := get("bob"); r.Header.Get("X-Tier") != "bronze" {
		t.Errorf("bob after edit: X-Tier %q, want bronze", r.Header.Get("X-Tier"))
	}
	if r := get("alice@example.com"); r.Status != 429 {
		t.Errorf("alice after bob's edit: %d, want still 429", r.Status)
	}

	// A plugin that runs before authentication cannot be a consumer's.
	bad := pluginConfig(listen, a, "consumers:\n  - name: bob\n    plugins: [{name: ip-restriction, config: {allow: [10.0.0.0/8]}}]\n",
		route("api", "api.example.com", "a", routePlugins))
	writeFile(t, gw.config, bad)
	eventually(t, 2*time.Second, "bad consumer rejected", func() (bool, string) {
		st := gw.debugConfig()
		for _, r := range st.Rejected {
			if strings.Contains(r.Error, `consumer "bob": plugins[0].name: ip-restriction runs before authentication`) {
				return true, ""
			}
		}
		return false, fmt.Sprint(st.Rejected)
	})
	if r := get("bob"); r.Status != 200 || r.Header.Get("X-Tier") != "bronze" {
		t.Errorf("rejected edit: bob gets %d, X-Tier %q; want his last good consumer", r.Status, r.Header.Get("X-Tier"))
	}
	out, err := exec.Command(testenv.BuildPylon(t), "validate", "--config", gw.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `consumer "bob": plugins[0].name`) {
		t.Errorf("pylon validate: %v\n%s", err, out)
	}
}

// Consumers through the admin API, the same JSON as the file.
func TestConsumersThroughAdminAPI(t *testing.T) {
	t.Parallel()
	backend := backends.StartHTTP(t, "file")
	n := startNode(t, "consumers", backend, "", fileRoute)
	api := n.api(t)
	waitServed(t, n.listen, "file.example.com", "file", 2*time.Second)
	route := map[string]any{"name": "guarded", "hosts": []string{"guarded.example.com"}, "backends": []map[string]any{{"service": "backend"}},
		"plugins": []map[string]any{{"name": "basic-auth", "config": map[string]any{"htpasswd": strings.ReplaceAll(htpasswdSHA("dave"), `\n`, "\n")}}}}
	api.must(201, "POST", "/api/v1/routes", route)
	r := api.call("POST", "/api/v1/consumers", map[string]any{"name": "dave", "plugins": []map[string]any{{"name": "cors"}}})
	if r.Status != 400 || !r.apiError(t).hasProblem("", "plugins[0].name") {
		t.Fatalf("consumer with a pre-auth plugin: %d %s", r.Status, r.Body)
	}
	api.must(201, "POST", "/api/v1/consumers", map[string]any{"name": "dave", "plugins": []map[string]any{
		{"name": "fault-injection", "config": map[string]any{"abort": map[string]any{"status": 451, "percent": 100}}}}})
	c := newClient()
	eventually(t, time.Second, "consumer live", func() (bool, string) {
		r, err := tryDo(c, "GET", "http://"+n.listen+"/", "guarded.example.com", basicAuth("dave"))
		return err == nil && r.Status == 451, fmt.Sprint(r.Status, err)
	})
	api.must(200, "DELETE", "/api/v1/consumers/dave", nil)
	eventually(t, time.Second, "consumer gone", func() (bool, string) {
		r, err := tryDo(c, "GET", "http://"+n.listen+"/", "guarded.example.com", basicAuth("dave"))
		return err == nil && r.Status == 200, fmt.Sprint(r.Status, err)
	})
}

// key-auth names the consumer by its key, in a header or a query
// parameter; the consumer's plugins follow; hideCredentials keeps the key
// from the upstream.
func TestKeyAuthConsumers(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	sum := sha256.Sum256([]byte("partner-key-0123456789"))
	gw := pluginConfig(listen, a, `consumers:
  - name: partner@example.com
    plugins:
      - {name: headers, config: {response: {set: [{name: X-Plan, value: partner}]}}}
`, route("api", "api.example.com", "a", fmt.Sprintf(`plugins: [{name: key-auth, config: {query: api_key, hideCredentials: true, keys: [{consumer: "partner@example.com", sha256: %x}, {consumer: internal, key: internal-key-9876543210}]}}]`, sum)))
	startGateway(t, gw)
	c := newClient()
	base := "http://" + listen
	if r := do(t, c, "GET", base+"/", "api.example.com"); r.Status != 401 {
		t.Fatalf("no key: %d, want 401", r.Status)
	}
	if r := do(t, c, "GET", base+"/", "api.example.com", "X-API-Key: partner-key-0123456788"); r.Status != 401 {
		t.Fatalf("wrong key: %d, want 401", r.Status)
	}
	r := do(t, c, "GET", base+"/orders?api_key=partner-key-0123456789&page=2", "api.example.com", "X-Consumer: forged")
	e := r.echo(t)
	if r.Status != 200 || r.Header.Get("X-Plan") != "partner" {
		t.Fatalf("partner by query: %d, X-Plan %q", r.Status, r.Header.Get("X-Plan"))
	}
	if e.RawQuery != "page=2" || http.Header(e.Headers).Get("X-Consumer") != "partner@example.com" {
		t.Errorf("upstream saw query %q and X-Consumer %q; want the key removed and the consumer named", e.RawQuery, http.Header(e.Headers).Get("X-Consumer"))
	}
	r = do(t, c, "GET", base+"/", "api.example.com", "X-API-Key: internal-key-9876543210")
	if e := r.echo(t); r.Status != 200 || r.Header.Get("X-Plan") != "" || http.Header(e.Headers).Get("X-API-Key") != "" || http.Header(e.Headers).Get("X-Consumer") != "internal" {
		t.Errorf("internal by header: %d, X-Plan %q, upstream X-API-Key %q, X-Consumer %q", r.Status, r.Header.Get("X-Plan"), http.Header(e.Headers).Get("X-API-Key"), http.Header(e.Headers).Get("X-Consumer"))
	}
}

// jwt-auth: the token's sub is the consumer and its consumer plugins
// follow; an expired or forged token is refused with a Bearer challenge.
func TestJWTAuthConsumers(t *testing.T) {
	t.Parallel()
	const secret = "e2e-shared-secret-with-32-bytes!!"
	listen := testenv.FreeAddr(t)
	a := backends.StartHTTP(t, "a")
	startGateway(t, pluginConfig(listen, a, `consumers:
  - name: alice@example.com
    plugins:
      - {name: headers, config: {response: {set: [{name: X-Plan, value: gold}]}}}
`, route("api", "api.example.com", "a", `plugins: [{name: jwt-auth, config: {issuer: "https://auth.example.com", keys: [{algorithm: HS256, secret: "`+secret+`"}]}}]`)))
	token := func(sub string, exp time.Duration, key string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": sub, "iss": "https://auth.example.com", "exp": time.Now().Add(exp).Unix(),
		}).SignedString([]byte(key))
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: Bearer " + tok
	}
	c := newClient()
	get := func(h ...string) response { return do(t, c, "GET", "http://"+listen+"/", "api.example.com", h...) }
	r := get(token("alice@example.com", time.Hour, secret))
	if e := r.echo(t); r.Status != 200 || r.Header.Get("X-Plan") != "gold" || http.Header(e.Headers).Get("X-Consumer") != "alice@example.com" {
		t.Fatalf("alice: %d, X-Plan %q, upstream X-Consumer %q", r.Status, r.Header.Get("X-Plan"), http.Header(e.Headers).Get("X-Consumer"))
	}
	if r := get(token("bob", time.Hour, secret)); r.Status != 200 || r.Header.Get("X-Plan") != "" {
		t.Fatalf("bob: %d, X-Plan %q", r.Status, r.Header.Get("X-Plan"))
	}
	for name, h := range map[string]string{
		"expired": token("alice@example.com", -time.Hour, secret),
		"forged":  token("alice@example.com", time.Hour, "not-the-secret-not-the-secret-!!"),
		"none":    "",
	} {
		var r response
		if h == "" {
			r = get()
		} else {
			r = get(h)
		}
		if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s token: %d, challenge %q", name, r.Status, r.Header.Get("WWW-Authenticate"))
		}
	}
}
