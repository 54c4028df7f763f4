package compression

// coding is a content coding the plugin can produce; 0 is identity.
type coding uint8

const (
	identity coding = iota
	gzipC
	brotliC
	zstdC
	numCodings
)

// names are the Content-Encoding tokens, indexed by coding.
var names = [numCodings]string{"identity", "gzip", "br", "zstd"}

// codingOf maps a configured name to its coding.
func codingOf(name string) (coding, bool) {
	for c := gzipC; c < numCodings; c++ {
		if names[c] == name {
			return c, true
		}
	}
	return identity, false
}

// negotiate picks the coding for an Accept-Encoding value (RFC 9110
// §12.5.3): the acceptable coding with the highest q-value, ties broken by
// prefs (the configured order). A coding not named is acceptable only
// through "*"; q=0 refuses it. It returns identity when nothing fits or
// the header is absent. It does not allocate: it runs on every response.
func negotiate(h []byte, prefs []coding) coding {
	var q [numCodings]int // thousandths; -1 = not named
	for i := range q {
		q[i] = -1
	}
	star := -1
	for len(h) > 0 {
		var elem []byte
		elem, h = cut(h, ',')
		name, params := cut(elem, ';')
		name = trim(name)
		if len(name) == 0 {
			continue
		}
		qv := 1000
		for len(params) > 0 {
			var p []byte
			p, params = cut(params, ';')
			p = trim(p)
			if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=' {
				qv = parseQ(trim(p[2:]))
			}
		}
		if qv < 0 {
			continue // a malformed weight: ignore the element
		}
		switch {
		case len(name) == 1 && name[0] == '*':
			star = max(star, qv)
		case equalFold(name, "gzip") || equalFold(name, "x-gzip"):
			q[gzipC] = max(q[gzipC], qv)
		case equalFold(name, "br"):
			q[brotliC] = max(q[brotliC], qv)
		case equalFold(name, "zstd"):
			q[zstdC] = max(q[zstdC], qv)
		}
	}
	best, bestQ := identity, 0
	for _, c := range prefs {
		v := q[c]
		if v < 0 {
			v = star
		}
		if v > bestQ {
			best, bestQ = c, v
		}
	}
	return best
}

// parseQ parses a qvalue ("1", "0.5", "1.000") into thousandths, or -1.
func parseQ(b []byte) int {
	if len(b) == 0 || len(b) > 5 || (b[0] != '0' && b[0] != '1') {
		return -1
	}
	v := int(b[0]-'0') * 1000
	if len(b) == 1 {
		return v
	}
	if b[1] != '.' {
		return -1
	}
	scale := 100
	for _, d := range b[2:] {
		if d < '0' || d > '9' {
			return -1
		}
		v += int(d-'0') * scale
		scale /= 10
	}
	if v > 1000 {
		return -1
	}
	return v
}

func cut(b []byte, sep byte) (before, after []byte) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII s, ignoring b's case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
