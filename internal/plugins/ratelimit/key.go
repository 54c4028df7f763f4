package ratelimit

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/net/http/httpguts"

	"pylon.io/pylon/internal/plugin"
)

type keyKind uint8

const (
	keyIP keyKind = iota
	keyRoute
	keyConsumer
	keyHeader
	keyCookie
)

type keyPart struct {
	kind keyKind
	name string // header or cookie name
}

// keySpec is what requests are counted by: one part, or several whose
// values are joined.
type keySpec []keyPart

const (
	maxKeyParts = 4
	// partMax bounds one part's value; a longer value (a JWT, a long
	// cookie) is replaced by its SHA-256, so a key costs at most a few
	// hundred bytes of memory whatever the client sends.
	partMax = 64
	keyBuf  = maxKeyParts*(1+sha256.Size) + maxKeyParts
)

// parseKey reads "ip", "route", "consumer", "header:NAME", "cookie:NAME",
// or several of them joined with '+'. Empty means ip.
func parseKey(s string) (keySpec, error) {
	if s == "" {
		return keySpec{{kind: keyIP}}, nil
	}
	parts := strings.Split(s, "+")
	if len(parts) > maxKeyParts {
		return nil, fmt.Errorf("at most %d parts joined with '+' (got %d)", maxKeyParts, len(parts))
	}
	var k keySpec
	for _, p := range parts {
		p = strings.TrimSpace(p)
		kind, name, hasName := strings.Cut(p, ":")
		var part keyPart
		switch {
		case p == "ip":
			part.kind = keyIP
		case p == "route":
			part.kind = keyRoute
		case p == "consumer":
			part.kind = keyConsumer
		case hasName && (kind == "header" || kind == "cookie"):
			if !httpguts.ValidHeaderFieldName(name) {
				return nil, fmt.Errorf("%s name %q is not a valid token", kind, name)
			}
			part = keyPart{kind: keyHeader, name: name}
			if kind == "cookie" {
				part.kind = keyCookie
			}
		default:
			return nil, fmt.Errorf("%q must be ip, route, consumer, header:NAME or cookie:NAME", p)
		}
		k = append(k, part)
	}
	return k, nil
}

// private reports whether the key holds values a client may keep secret
// (headers, cookies, the consumer), which must not be stored as they are.
func (k keySpec) private() bool {
	for _, p := range k {
		if p.kind != keyIP && p.kind != keyRoute {
			return true
		}
	}
	return false
}

func (p keyPart) value(c plugin.Ctx) []byte {
	switch p.kind {
	case keyIP:
		return c.ClientIP()
	case keyRoute:
		r := c.RouteName()
		// Read-only view of the route's name: the table copies what it keeps.
		return unsafe.Slice(unsafe.StringData(r), len(r))
	case keyConsumer:
		// The consumer an auth plugin authenticated (they run before
		// rate-limit); a request without one counts by its address, so
		// anonymous clients neither share one bucket nor pick their key.
		if v := c.Consumer(); v != "" {
			return unsafe.Slice(unsafe.StringData(v), len(v))
		}
		return c.ClientIP()
	case keyHeader:
		v, _ := c.Header(p.name)
		return v
	default:
		v, _ := c.Cookie(p.name)
		return v
	}
}

// extract returns the request's key, built in buf when it has to be
// joined or shortened. A request without the header or cookie counts under
// the empty value: all such requests share one limit.
func (k keySpec) extract(c plugin.Ctx, buf *[keyBuf]byte) []byte {
	if len(k) == 1 {
		v := k[0].value(c)
		if len(v) <= partMax {
			return v
		}
		return appendDigest(buf[:0], v)
	}
	out := buf[:0]
	for i, p := range k {
		if i > 0 {
			out = append(out, 0)
		}
		v := p.value(c)
		if len(v) > partMax {
			out = appendDigest(out, v)
			continue
		}
		out = append(out, v...)
	}
	return out
}

// appendDigest appends 0xff and v's SHA-256: the marker keeps a digest from
// equalling a short value.
func appendDigest(dst, v []byte) []byte {
	sum := sha256.Sum256(v)
	dst = append(dst, 0xff)
	return append(dst, sum[:]...)
}
