package proxy

import (
	"bytes"
	"path"
	"strings"
)

// forEachToken calls fn for each comma-separated, trimmed token of v.
func forEachToken(v []byte, fn func(tok []byte)) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		tok := trimOWS(v[:i])
		if len(tok) > 0 {
			fn(tok)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// hasRawHeader reports whether raw (the header block as received, one
// "Name: value\r\n" per line) has a line for name (lowercase), any case.
func hasRawHeader(raw []byte, name string) bool {
	for len(raw) > 0 {
		end := 0
		for end < len(raw) && raw[end] != '\n' {
			end++
		}
		line := raw[:end]
		if len(line) > len(name) && line[len(name)] == ':' || len(line) > len(name) && (line[len(name)] == ' ' || line[len(name)] == '\t') {
			match := true
			for i := 0; i < len(name); i++ {
				c := line[i]
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				if c != name[i] {
					match = false
					break
				}
			}
			if match {
				return true
			}
		}
		if end == len(raw) {
			return false
		}
		raw = raw[end+1:]
	}
	return false
}

var closeToken = []byte("close")

// hasCloseToken reports whether a Connection header value lists "close"
// (the engine only recognises the value when it stands alone).
func hasCloseToken(v []byte) bool {
	found := false
	forEachToken(v, func(tok []byte) {
		found = found || bytes.EqualFold(tok, closeToken)
	})
	return found
}

// normalizePath removes dot segments and repeated slashes from a decoded
// path, as the HTTP/1.1 engine does, so both engines route the same request
// the same way. It returns p itself when there is nothing to clean.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/./") && !strings.Contains(p, "/../") &&
		!strings.HasSuffix(p, "/.") && !strings.HasSuffix(p, "/..") {
		return p
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
