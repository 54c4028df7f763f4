package compression

import "strings"

// defaultTypes are compressed when the config names none: text formats
// that shrink well. Images, video, archives and fonts in woff/woff2 are
// compressed already.
var defaultTypes = []string{
	"text/*",
	"application/json", "application/*+json", "application/x-ndjson",
	"application/javascript", "application/x-javascript", "application/ecmascript",
	"application/xml", "application/*+xml",
	"image/svg+xml", "image/x-icon", "image/bmp",
	"application/wasm",
	"application/graphql-response+json",
	"application/grpc-web-text", "application/grpc-web-text+proto",
	"font/ttf", "font/otf", "application/vnd.ms-fontobject",
}

// pattern is one content-type pattern: an exact media type, or a prefix
// and a suffix around one '*' ("text/*", "application/*+json").
type pattern struct{ prefix, suffix string }

func compilePatterns(types []string) []pattern {
	ps := make([]pattern, 0, len(types))
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		if i := strings.IndexByte(t, '*'); i >= 0 {
			ps = append(ps, pattern{t[:i], t[i+1:]})
		} else {
			ps = append(ps, pattern{prefix: t, suffix: "\x00"}) // exact
		}
	}
	return ps
}

// matchType reports whether the Content-Type value ct (parameters allowed)
// matches one of ps, ignoring case, without allocating.
func matchType(ps []pattern, ct []byte) bool {
	mt, _ := cut(ct, ';')
	mt = trim(mt)
	for _, p := range ps {
		if p.suffix == "\x00" {
			if equalFold(mt, p.prefix) {
				return true
			}
			continue
		}
		if len(mt) >= len(p.prefix)+len(p.suffix) &&
			equalFold(mt[:len(p.prefix)], p.prefix) && equalFold(mt[len(mt)-len(p.suffix):], p.suffix) {
			return true
		}
	}
	return false
}
