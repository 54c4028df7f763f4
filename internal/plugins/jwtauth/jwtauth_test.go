package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"pylon.io/pylon/internal/plugin"
	"pylon.io/pylon/internal/plugin/plugintest"
	"pylon.io/pylon/internal/plugins/internal/benchctx"
)

const secret = "a-shared-secret-of-at-least-32-bytes!"

func ecKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sign(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(sub string, exp time.Duration) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iss": "https://auth.example.com", "aud": "shop", "exp": time.Now().Add(exp).Unix()}
}

func TestTokens(t *testing.T) {
	ec, ecPEM := ecKey(t)
	other, _ := ecKey(t)
	r := plugintest.Build(t, "jwt-auth", map[string]any{
		"issuer": "https://auth.example.com", "audience": "shop", "cookie": "session", "query": "access_token", "hideCredentials": true,
		"keys": []any{
			map[string]any{"algorithm": "HS256", "secret": secret},
			map[string]any{"kid": "ec-2026", "algorithm": "ES256", "publicKey": ecPEM},
		},
	}, nil)
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(secret), "", c) }
	for _, tc := range []struct {
		name                  string
		header, cookie, query string
		consumer              string // "" = refused
	}{
		{"HS256 bearer", "Bearer " + hs(claims("alice", time.Hour)), "", "", "alice"},
		{"lower-case scheme", "bearer " + hs(claims("alice", time.Hour)), "", "", "alice"},
		{"ES256 by kid", "Bearer " + sign(t, jwt.SigningMethodES256, ec, "ec-2026", claims("bob@example.com", time.Hour)), "", "", "bob@example.com"},
		{"cookie", "", hs(claims("carol", time.Hour)), "", "carol"},
		{"query", "", "", "x=1&access_token=" + hs(claims("dave", time.Hour)), "dave"},
		{"expired", "Bearer " + hs(claims("alice", -time.Hour)), "", "", ""},
		{"no exp", "Bearer " + hs(jwt.MapClaims{"sub": "alice", "iss": "https://auth.example.com", "aud": "shop"}), "", "", ""},
		{"other issuer", "Bearer " + hs(jwt.MapClaims{"sub": "alice", "iss": "https://evil.example", "aud": "shop", "exp": time.Now().Add(time.Hour).Unix()}), "", "", ""},
		{"other audience", "Bearer " + hs(jwt.MapClaims{"sub": "alice", "iss": "https://auth.example.com", "aud": "admin", "exp": time.Now().Add(time.Hour).Unix()}), "", "", ""},
		{"wrong secret", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another secret entirely, 32 bytes"), "", claims("alice", time.Hour)), "", "", ""},
		{"unknown ES key", "Bearer " + sign(t, jwt.SigningMethodES256, other, "ec-2026", claims("alice", time.Hour)), "", "", ""},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims("alice", time.Hour)), "", "", ""},
		// The EC public key's PEM as an HMAC secret: the classic confusion.
		{"HS256 signed with the public key", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte(ecPEM), "ec-2026", claims("alice", time.Hour)), "", "", ""},
		{"no consumer claim", "Bearer " + hs(jwt.MapClaims{"iss": "https://auth.example.com", "aud": "shop", "exp": time.Now().Add(time.Hour).Unix()}), "", "", ""},
		{"not bearer", "Basic YWxpY2U6eA==", "", "", ""},
		{"nothing", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := plugintest.New()
			c.ReqHeader.Set("X-Consumer", "forged")
			if tc.header != "" {
				c.ReqHeader.Set("Authorization", tc.header)
			}
			if tc.cookie != "" {
				c.ReqHeader.Set("Cookie", "session="+tc.cookie)
			}
			c.QueryV = tc.query
			act := r.Request(c)
			if tc.consumer == "" {
				if act != plugin.Stop || c.StatusV != 401 || !strings.HasPrefix(c.RespHeader.Get("WWW-Authenticate"), `Bearer realm="pylon"`) {
					t.Fatalf("action %v, status %d, challenge %q; want 401 with a Bearer challenge", act, c.StatusV, c.RespHeader.Get("WWW-Authenticate"))
				}
				return
			}
			if act != plugin.Continue || c.ConsumerV != tc.consumer || c.ReqHeader.Get("X-Consumer") != tc.consumer {
				t.Fatalf("action %v (status %d), consumer %q; want %q", act, c.StatusV, c.ConsumerV, tc.consumer)
			}
			if c.ReqHeader.Get("Authorization") != "" || strings.Contains(c.QueryV, "access_token") {
				t.Fatalf("hideCredentials left header %q, query %q", c.ReqHeader.Get("Authorization"), c.QueryV)
			}
		})
	}
}

// A token that passed is remembered only until it expires.
func TestCachedTokenExpires(t *testing.T) {
	r := plugintest.Build(t, "jwt-auth", map[string]any{"leeway": "0s", "keys": []any{map[string]any{"algorithm": "HS256", "secret": secret}}}, nil)
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(1100 * time.Millisecond).Unix()})
	try := func() int {
		c := plugintest.New()
		c.ReqHeader.Set("Authorization", "Bearer "+tok)
		r.Request(c)
		return c.StatusV
	}
	if s := try(); s != 0 {
		t.Fatalf("fresh token: %d", s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for try() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an expired token is still accepted")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConfigErrors(t *testing.T) {
	_, ecPEM := ecKey(t)
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "keys: must list at least one key"},
		{map[string]any{"keys": []any{map[string]any{"algorithm": "HS256"}}}, "keys[0]: HS256 needs secret"},
		{map[string]any{"keys": []any{map[string]any{"algorithm": "RS256", "publicKey": "not pem"}}}, "keys[0]: publicKey:"},
		{map[string]any{"keys": []any{map[string]any{"algorithm": "ES256", "publicKey": ecPEM, "secret": "x"}}}, "keys[0]: ES256 needs publicKey"},
		{map[string]any{"keys": []any{map[string]any{"algorithm": "none"}}}, "keys[0]: algorithm must be"},
		{map[string]any{"keys": []any{map[string]any{"algorithm": "HS256", "secret": "s1"}, map[string]any{"algorithm": "HS256", "secret": "s2"}}}, "keys[1].kid: two HS256 keys without kid"},
		{map[string]any{"keys": []any{map[string]any{"kid": "a", "algorithm": "HS256", "secret": "s1"}, map[string]any{"kid": "a", "algorithm": "HS384", "secret": "s2"}}}, `keys[1].kid: "a" is used by another key`},
	} {
		_, err := plugin.DecodeConfig("jwt-auth", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// BenchmarkJWTAuth: a token seen before (the cache) and, for comparison,
// an ES256 verification on every request.
func BenchmarkJWTAuth(b *testing.B) {
	ec, ecPEM := ecKey(b)
	cfg, err := plugin.DecodeConfig("jwt-auth", map[string]any{"keys": []any{map[string]any{"algorithm": "ES256", "publicKey": ecPEM}}})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := build(cfg.(*Config), nil)
	tok := sign(b, jwt.SigningMethodES256, ec, "", jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	c := benchctx.New("/", "Authorization", "Bearer "+tok)
	var s plugin.Slot
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if a.Access(c, &s) != plugin.Continue {
				b.Fatal("refused")
			}
		}
	})
	b.Run("verified", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.ok.Clear()
			if a.Access(c, &s) != plugin.Continue {
				b.Fatal("refused")
			}
		}
	})
}

// FuzzAccess: whatever a client sends as a token, the plugin answers 401
// or lets a validly signed token through; it never panics, and a token not
// signed with the key never passes.
func FuzzAccess(f *testing.F) {
	good := sign(f, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	for _, s := range []string{"Bearer " + good, "Bearer a.b.c", "bearer ", "Bearer eyJhbGciOiJub25lIn0.e30.", "Basic x", ""} {
		f.Add(s)
	}
	cfg, err := plugin.DecodeConfig("jwt-auth", map[string]any{"keys": []any{map[string]any{"algorithm": "HS256", "secret": secret}}})
	if err != nil {
		f.Fatal(err)
	}
	a, _ := build(cfg.(*Config), nil)
	f.Fuzz(func(t *testing.T, header string) {
		c := plugintest.New()
		c.ReqHeader["Authorization"] = []string{header}
		var s plugin.Slot
		if a.Access(c, &s) == plugin.Continue && !strings.Contains(header, good) {
			t.Fatalf("a token not signed with the key passed: %q (consumer %q)", header, c.ConsumerV)
		}
	})
}
