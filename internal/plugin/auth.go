package plugin

import (
	"net/url"
	"strings"
)

// Authenticate records the consumer an auth plugin identified: limits key
// on it, consumer-scope plugins follow it, and the upstream is told in
// X-Consumer (replacing any value the client sent).
func Authenticate(c Ctx, consumer string) {
	c.SetConsumer(consumer)
	c.SetHeader("X-Consumer", consumer)
}

// DropQueryParam removes every name=… (and a bare name) from a raw query,
// keeping the other parameters as sent, and reports whether it removed
// any. Auth plugins use it to keep credentials from the upstream.
func DropQueryParam(raw, name string) (string, bool) {
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if u, err := url.QueryUnescape(k); err == nil && u == name {
			continue
		}
		kept = append(kept, p)
	}
	if len(kept) == len(parts) {
		return raw, false
	}
	return strings.Join(kept, "&"), true
}
