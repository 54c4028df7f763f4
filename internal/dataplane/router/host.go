package router

import (
	"bytes"
	"strings"
)

// hostBufSize bounds the stack buffer used to lowercase a host. DNS names are
// at most 253 bytes; longer hosts take an allocating path.
const hostBufSize = 256

// normalizeHost turns a Host header value into an index key without
// allocating: it strips a port and a trailing dot, lowercases ASCII, and
// brackets a bare IPv6 literal. The result aliases host when host needs no
// change, and buf otherwise. ip reports an IP literal in brackets, which
// wildcard hosts never match.
func normalizeHost(buf *[hostBufSize]byte, host []byte) (key []byte, ip bool) {
	bracket := false
	if len(host) > 0 && host[0] == '[' {
		// "[::1]:8080": keep the brackets, drop what follows them.
		if i := bytes.IndexByte(host, ']'); i >= 0 {
			host = host[:i+1]
		}
		ip = true
	} else if i := bytes.IndexByte(host, ':'); i >= 0 {
		if bytes.IndexByte(host[i+1:], ':') < 0 {
			host = host[:i] // "example.com:8080"
		} else {
			bracket, ip = true, true // "::1": an IPv6 literal without brackets
		}
	}
	if !ip && len(host) > 0 && host[len(host)-1] == '.' {
		host = host[:len(host)-1]
	}
	if !bracket && !hasUpper(host) {
		return host, ip
	}
	n := len(host)
	if bracket {
		n += 2
	}
	dst := buf[:0]
	if n > len(buf) {
		dst = make([]byte, 0, n) // rare: longer than any DNS name
	}
	if bracket {
		dst = append(dst, '[')
	}
	for _, c := range host {
		dst = append(dst, lower(c))
	}
	if bracket {
		dst = append(dst, ']')
	}
	return dst, ip
}

// normalizeKey is normalizeHost for the keys given to Apply and Table, which
// are config, not traffic, so it may allocate.
func normalizeKey(key string) string {
	if key == "*" || strings.HasPrefix(key, "*.") {
		return asciiLower(strings.TrimSuffix(key, "."))
	}
	var buf [hostBufSize]byte
	k, _ := normalizeHost(&buf, []byte(key))
	return string(k)
}

func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// asciiLower lowercases ASCII letters only. Hosts on the wire are ASCII (IDNs
// arrive as punycode), and strings.ToLower would rewrite invalid UTF-8.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower(c)
	}
	return string(b)
}
