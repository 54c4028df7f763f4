package basicauth

import (
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
)

// Hashes made with `openssl passwd -apr1` and Go's bcrypt (stored as
// Apache writes it, $2y$).
const (
	apr1Secret  = "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/" // secret
	apr1Secret2 = "$apr1$Zz9./Qq$.MI1KYzXFWUy6uF78jTsr1"  // secret2
	shaSecret   = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="     // secret
)

func bcryptY(t testing.TB, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "$2y$" + string(h[4:])
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestApr1MatchesApache(t *testing.T) {
	if got := apr1("secret", "abcdefgh"); got != apr1Secret {
		t.Errorf("apr1 = %s, want %s", got, apr1Secret)
	}
	if got := apr1("secret2", "Zz9./Qq"); got != apr1Secret2 {
		t.Errorf("apr1 = %s, want %s", got, apr1Secret2)
	}
}

func TestAuthenticates(t *testing.T) {
	htpasswd := strings.Join([]string{
		"# users", "alice:" + bcryptY(t, "wonderland"), "bob:" + apr1Secret, "carol:" + shaSecret, "",
	}, "\n")
	r := plugintest.Build(t, "basic-auth", map[string]any{"htpasswd": htpasswd, "realm": "Staff only"}, nil)
	for _, tc := range []struct {
		auth string
		ok   bool
	}{
		{basic("alice", "wonderland"), true},
		{basic("alice", "wonderland"), true}, // from the cache
		{basic("alice", "wrong"), false},
		{basic("bob", "secret"), true},
		{basic("bob", "secret2"), false},
		{basic("carol", "secret"), true},
		{basic("mallory", "secret"), false},
		{"Bearer x", false},
		{"Basic !!!", false},
		{"", false},
	} {
		c := plugintest.New()
		if tc.auth != "" {
			c.ReqHeader.Set("Authorization", tc.auth)
		}
		act := r.Request(c)
		if (act == plugin.Continue) != tc.ok {
			t.Errorf("%q: passed=%v, want %v", tc.auth, act == plugin.Continue, tc.ok)
		}
		if !tc.ok && (c.StatusV != 401 || c.RespHeader.Get("WWW-Authenticate") != `Basic realm="Staff only", charset="UTF-8"`) {
			t.Errorf("%q: answered %d with challenge %q", tc.auth, c.StatusV, c.RespHeader.Get("WWW-Authenticate"))
		}
	}
}

func TestHideCredentials(t *testing.T) {
	r := plugintest.Build(t, "basic-auth", map[string]any{"htpasswd": "carol:" + shaSecret, "hideCredentials": true}, nil)
	c := plugintest.New()
	c.ReqHeader.Set("Authorization", basic("carol", "secret"))
	if r.Request(c) != plugin.Continue || c.ReqHeader.Get("Authorization") != "" {
		t.Fatalf("credentials still sent upstream: %q", c.ReqHeader.Get("Authorization"))
	}
}

// The authenticated user becomes the request's consumer (what limits key
// on) and replaces any X-Consumer the client sent.
func TestSetsConsumer(t *testing.T) {
	r := plugintest.Build(t, "basic-auth", map[string]any{"htpasswd": "carol:" + shaSecret}, nil)
	c := plugintest.New()
	c.ReqHeader.Set("Authorization", basic("carol", "secret"))
	c.ReqHeader.Set("X-Consumer", "admin")
	if r.Request(c) != plugin.Continue || c.Consumer() != "carol" || c.ReqHeader.Get("X-Consumer") != "carol" {
		t.Fatalf("consumer %q, X-Consumer %q", c.Consumer(), c.ReqHeader.Get("X-Consumer"))
	}
}

func TestConfigErrors(t *testing.T) {
	for htpasswd, want := range map[string]string{
		"":            "no users",
		"alice":       "line 1: want user:hash",
		"alice:plain": `line 1: user "alice": unsupported hash`,
		"alice:" + shaSecret + "\nalice:" + shaSecret: `line 2: user "alice" listed twice`,
		"bob:$apr1$x":      `user "bob": malformed $apr1$ hash`,
		"bob:{SHA}abc":     `user "bob": malformed {SHA} hash`,
		"bob:$2y$10$short": `user "bob": malformed bcrypt hash`,
	} {
		_, err := plugin.DecodeConfig("basic-auth", map[string]any{"htpasswd": htpasswd})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", htpasswd, err, want)
		}
		if err != nil && strings.Contains(htpasswd, "$") && strings.Contains(err.Error(), htpasswd[strings.Index(htpasswd, ":")+1:]) {
			t.Errorf("error reveals the hash: %v", err)
		}
	}
}

// FuzzHtpasswd: no input panics, and a file that parses checks passwords
// without panicking either.
func FuzzHtpasswd(f *testing.F) {
	f.Add("alice:"+apr1Secret+"\nbob:"+shaSecret, "secret")
	f.Add("a:$2y$04$abcdefghijklmnopqrstuu", "x")
	f.Fuzz(func(t *testing.T, text, pw string) {
		users, err := parseHtpasswd(text)
		if err != nil {
			return
		}
		for _, h := range users {
			if h.scheme != "bcrypt" { // bcrypt is too slow to fuzz
				h.check(pw)
			}
		}
	})
}
