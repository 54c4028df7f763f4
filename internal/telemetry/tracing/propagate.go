package tracing

import (
	"bytes"
)

// Propagator names, as the telemetry config and OTEL_PROPAGATORS spell them.
const (
	TraceContext = "tracecontext" // W3C traceparent and tracestate
	B3Single     = "b3"           // the single b3 header
	B3Multi      = "b3multi"      // X-B3-TraceId, X-B3-SpanId, X-B3-Sampled, X-B3-ParentSpanId
)

// Header names, lower case as HTTP/2 sends them; both engines look them up
// case-insensitively.
const (
	HeaderTraceparent = "Traceparent"
	HeaderTracestate  = "Tracestate"
	HeaderB3          = "B3"
	HeaderB3TraceID   = "X-B3-Traceid"
	HeaderB3SpanID    = "X-B3-Spanid"
	HeaderB3Sampled   = "X-B3-Sampled"
	HeaderB3Parent    = "X-B3-Parentspanid"
	HeaderB3Flags     = "X-B3-Flags"
)

// Parent is the trace context a request came with.
type Parent struct {
	TraceID [16]byte
	SpanID  [8]byte
	Sampled bool
	// Deferred is B3's "no decision": the parent left sampling to us.
	Deferred bool
}

// maxTracestate bounds the tracestate passed on (W3C asks to keep at least
// 512 bytes; a longer one is dropped whole rather than cut).
const maxTracestate = 512

// ParseTraceparent reads a W3C traceparent value:
// version "-" trace-id "-" parent-id "-" flags, all lower-case hex. It
// accepts a future version's longer value (the first four fields as
// version 00 defines them, then "-" and more), as the spec asks, and
// refuses version ff, all-zero ids, and anything malformed.
func ParseTraceparent(v []byte) (p Parent, ok bool) {
	v = trimSpace(v)
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return Parent{}, false
	}
	var ver [1]byte
	if !decodeHex(ver[:], v[0:2]) || ver[0] == 0xff {
		return Parent{}, false
	}
	if len(v) > 55 && (ver[0] == 0 || v[55] != '-') {
		return Parent{}, false
	}
	var flags [1]byte
	if !decodeHex(p.TraceID[:], v[3:35]) || !decodeHex(p.SpanID[:], v[36:52]) || !decodeHex(flags[:], v[53:55]) {
		return Parent{}, false
	}
	if isZero(p.TraceID[:]) || isZero(p.SpanID[:]) {
		return Parent{}, false
	}
	p.Sampled = flags[0]&1 == 1
	return p, true
}

// AppendTraceparent appends a version 00 traceparent value.
func AppendTraceparent(dst []byte, traceID [16]byte, spanID [8]byte, sampled bool) []byte {
	dst = append(dst, "00-"...)
	dst = appendHex(dst, traceID[:])
	dst = append(dst, '-')
	dst = appendHex(dst, spanID[:])
	if sampled {
		return append(dst, "-01"...)
	}
	return append(dst, "-00"...)
}

// ValidTracestate reports whether a tracestate value may be passed on:
// within the size bound, of at most 32 list members, in the characters the
// W3C grammar allows. It does not rewrite the list: a proxy that adds no
// entry of its own passes it on as it came.
func ValidTracestate(v []byte) bool {
	if len(v) > maxTracestate {
		return false
	}
	members := 0
	for len(v) > 0 {
		part := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		part = trimSpace(part)
		if len(part) == 0 {
			continue
		}
		eq := bytes.IndexByte(part, '=')
		if eq <= 0 || eq == len(part)-1 {
			return false
		}
		for _, c := range part[:eq] {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '*' || c == '/' || c == '@') {
				return false
			}
		}
		for _, c := range part[eq+1:] {
			if c < 0x20 || c > 0x7e || c == ',' || c == '=' {
				return false
			}
		}
		if members++; members > 32 {
			return false
		}
	}
	return true
}

// ParseB3 reads the single b3 header: traceid-spanid[-sampling[-parentspanid]],
// or a bare sampling decision ("0", "1", "d"), which carries no parent. A
// 64-bit trace id is widened to 128 bits with leading zeros, as B3 says.
func ParseB3(v []byte) (p Parent, ok bool) {
	v = trimSpace(v)
	first := bytes.IndexByte(v, '-')
	if first < 0 {
		return Parent{}, false // a bare decision: no parent to follow
	}
	if !parseB3TraceID(&p, v[:first]) {
		return Parent{}, false
	}
	rest := v[first+1:]
	sid := rest
	var sampling []byte
	if i := bytes.IndexByte(rest, '-'); i >= 0 {
		sid, sampling = rest[:i], rest[i+1:]
		if j := bytes.IndexByte(sampling, '-'); j >= 0 {
			var parent [8]byte
			if len(sampling[j+1:]) != 16 || !decodeHex(parent[:], sampling[j+1:]) {
				return Parent{}, false
			}
			sampling = sampling[:j]
		}
	}
	if len(sid) != 16 || !decodeHex(p.SpanID[:], sid) || isZero(p.SpanID[:]) {
		return Parent{}, false
	}
	switch string(sampling) {
	case "":
		p.Deferred = true
	case "1", "d":
		p.Sampled = true
	case "0":
	default:
		return Parent{}, false
	}
	return p, true
}

// ParseB3Multi reads the X-B3-* headers; get returns a header's value.
func ParseB3Multi(get func(name string) []byte) (p Parent, ok bool) {
	if !parseB3TraceID(&p, trimSpace(get(HeaderB3TraceID))) {
		return Parent{}, false
	}
	sid := trimSpace(get(HeaderB3SpanID))
	if len(sid) != 16 || !decodeHex(p.SpanID[:], sid) || isZero(p.SpanID[:]) {
		return Parent{}, false
	}
	if f := trimSpace(get(HeaderB3Flags)); string(f) == "1" {
		p.Sampled = true // debug implies accept
		return p, true
	}
	switch s := trimSpace(get(HeaderB3Sampled)); string(s) {
	case "":
		p.Deferred = true
	case "1", "true":
		p.Sampled = true
	case "0", "false":
	default:
		return Parent{}, false
	}
	return p, true
}

func parseB3TraceID(p *Parent, v []byte) bool {
	switch len(v) {
	case 32:
		if !decodeHex(p.TraceID[:], v) {
			return false
		}
	case 16:
		if !decodeHex(p.TraceID[8:], v) {
			return false
		}
	default:
		return false
	}
	return !isZero(p.TraceID[:])
}

// AppendB3 appends a single b3 header value: traceid-spanid-sampling.
func AppendB3(dst []byte, traceID [16]byte, spanID [8]byte, sampled bool) []byte {
	dst = appendHex(dst, traceID[:])
	dst = append(dst, '-')
	dst = appendHex(dst, spanID[:])
	if sampled {
		return append(dst, "-1"...)
	}
	return append(dst, "-0"...)
}

// AppendHex appends b in lower-case hex (for trace and span ids).
func AppendHex(dst, b []byte) []byte { return appendHex(dst, b) }

const hexDigits = "0123456789abcdef"

func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// decodeHex decodes lower-case hex into dst, which must be half as long
// as src. Upper case is invalid in traceparent, and B3 ids are lower case.
func decodeHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := hexVal(src[2*i])
		lo, ok2 := hexVal(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
