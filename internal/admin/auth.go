package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Failed authentications per client IP: a burst of five, then one a second.
const (
	failureBurst  = 5
	failureRefill = 1.0 // tokens per second
	maxClients    = 4096
)

// authenticate admits requests with "Authorization: Bearer KEY" whose
// SHA-256 equals Options.KeyHash (compared in constant time); others get a
// 401 with WWW-Authenticate. Each wrong key takes a token from its client
// IP's bucket; with the bucket empty, wrong keys get a 429 and Retry-After
// instead. A request with no key guesses nothing, so it costs no token and
// always gets the 401 that says a key is needed, lockout or not. A right key
// is never slowed or refused, even from an IP that is limited: the limit
// costs a guesser time and log lines, while the key's entropy (at least 16
// bytes; 32 random bytes when generated) is what keeps it from being guessed.
func (s *Server) authenticate(next http.Handler) http.Handler {
	var zero [32]byte
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := bearer(r.Header.Get("Authorization"))
		if ok && s.o.KeyHash != zero {
			sum := sha256.Sum256([]byte(key))
			if subtle.ConstantTimeCompare(sum[:], s.o.KeyHash[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		ip := clientIP(r)
		if !ok {
			s.unauthorized(w, r, ip, false)
			return
		}
		if wait, limited := s.limiter.fail(ip, time.Now()); limited {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, errorBody{Error: "too many requests",
				Message: "admin: too many failed authentications from " + ip})
			return
		}
		s.unauthorized(w, r, ip, true)
	})
}

// unauthorized answers 401 and logs the failure: a wrong key as a warning,
// a request without one (nothing guessed, and not rate limited) at debug
// level, so that a scanner cannot flood the log.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, ip string, keyPresent bool) {
	level := slog.LevelDebug
	if keyPresent {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "admin: authentication failed", "client", ip, "method", r.Method, "path", r.URL.Path, "keyPresent", keyPresent)
	w.Header().Set("WWW-Authenticate", `Bearer realm="pylon-admin"`)
	writeError(w, http.StatusUnauthorized, errorBody{Error: "unauthorized",
		Message: "admin: a valid key is required: Authorization: Bearer KEY"})
}

// bearer extracts the token of "Bearer TOKEN" (scheme case-insensitive).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// clientIP is the connection's address: forwarding headers are not trusted,
// since anyone could set them to dodge the limit.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter is a token bucket per client for failed authentications.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	rate    float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, rate float64) *limiter {
	return &limiter{burst: float64(burst), rate: rate, buckets: map[string]*bucket{}}
}

// fail records a failure from client at now. It reports whether the client
// is over its limit and, if so, how long until it has a token again.
func (l *limiter) fail(client string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[client]
	if b == nil {
		if len(l.buckets) >= maxClients {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[client] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), true
	}
	b.tokens--
	return 0, false
}

// prune forgets clients whose buckets have refilled (they are as good as
// new), and if that is not enough, every client: memory stays bounded when
// many addresses fail.
func (l *limiter) prune(now time.Time) {
	for c, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, c)
		}
	}
	if len(l.buckets) >= maxClients {
		clear(l.buckets)
	}
}
