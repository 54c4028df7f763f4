package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	ts := newTestServer(t)
	for _, tc := range []struct {
		name, auth string
		code       int
	}{
		{"right key", "Bearer " + testKey, 200},
		{"scheme case", "bearer " + testKey, 200},
		{"missing", "", 401},
		{"wrong key", "Bearer nope", 401},
		{"basic", "Basic " + testKey, 401},
		{"empty token", "Bearer ", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/status", nil)
			req.RemoteAddr = "192.0.2.9:1234"
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			ts.h.ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("%d, want %d", w.Code, tc.code)
			}
			if tc.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			ts.s.limiter.buckets = map[string]*bucket{} // each case on a fresh budget
		})
	}
	// The zero hash (no key configured) admits nobody.
	open := newTestServer(t, func(_ *Deps, o *Options) { o.KeyHash = [32]byte{} })
	if r := open.do("GET", "/api/v1/status", ""); r.code != 401 {
		t.Errorf("zero hash: %d", r.code)
	}
}

func TestAuthRateLimit(t *testing.T) {
	ts := newTestServer(t)
	call := func(ip, key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/v1/plugins", nil)
		req.RemoteAddr = ip + ":5555"
		req.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		ts.h.ServeHTTP(w, req)
		return w
	}
	for i := range failureBurst {
		if w := call("192.0.2.1", "wrong"); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
	}
	w := call("192.0.2.1", "wrong")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the burst: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// The right key is never slowed, even from the limited address.
	for range 20 {
		if w := call("192.0.2.1", testKey); w.Code != 200 {
			t.Fatalf("right key from a limited IP: %d", w.Code)
		}
	}
	// A request without a key guesses nothing: during the lockout it still
	// gets the 401 saying a key is needed, not the guesser's 429.
	for _, auth := range []string{"", "Basic " + testKey, "Bearer "} {
		req := httptest.NewRequest("GET", "/api/v1/plugins", nil)
		req.RemoteAddr = "192.0.2.1:5555"
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		ts.h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("no key (%q) during the lockout: %d, want 401 with WWW-Authenticate", auth, w.Code)
		}
	}
	if w := call("192.0.2.1", "wrong"); w.Code != http.StatusTooManyRequests {
		t.Errorf("a wrong key after keyless requests: %d, still want 429", w.Code)
	}
	// Other addresses have their own budget.
	if w := call("192.0.2.2", "wrong"); w.Code != 401 {
		t.Fatalf("other IP: %d", w.Code)
	}
}

func TestLimiterRefill(t *testing.T) {
	l := newLimiter(5, 1)
	now := time.Unix(1000, 0)
	for range 5 {
		if _, limited := l.fail("a", now); limited {
			t.Fatal("limited within the burst")
		}
	}
	if wait, limited := l.fail("a", now); !limited || wait != time.Second {
		t.Fatalf("limited=%v wait=%v", limited, wait)
	}
	if _, limited := l.fail("a", now.Add(1100*time.Millisecond)); limited {
		t.Fatal("not refilled after a second")
	}
	if _, limited := l.fail("a", now.Add(1200*time.Millisecond)); !limited {
		t.Fatal("one token refilled, two taken")
	}
	for i := range maxClients + 10 {
		l.fail(string(rune(i)), now)
	}
	if len(l.buckets) > maxClients {
		t.Fatalf("%d buckets kept", len(l.buckets))
	}
}
