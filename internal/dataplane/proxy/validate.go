package proxy

import (
	"bytes"
	"encoding/binary"

	"github.com/valyala/fasthttp"
)

// maxMethodLen bounds the request method. The longest method in the IANA
// HTTP Method Registry is UPDATEREDIRECTREF (17 bytes); 32 leaves room for
// private extension methods, while a method of kilobytes is no method any
// server implements, only bytes that every log line and upstream would
// carry (and a way to probe how far a proxy's buffers stretch).
const maxMethodLen = 32

// Reasons checkFastRequest gives. They name the shape refused, for the
// access log and the response body.
const (
	reasonMethodTooLong  = "method too long"
	reasonMethodInvalid  = "method is not a token"
	reasonVersion        = "http version not supported"
	reasonBareLF         = "header line not ended by CRLF"
	reasonObsFold        = "obsolete header line folding"
	reasonHeaderName     = "invalid header name"
	reasonHeaderValue    = "invalid header value"
	reasonContentLength  = "conflicting content-length"
	reasonTransferCoding = "unsupported transfer-encoding"
	reasonFraming        = "both transfer-encoding and content-length"
)

// checkFastRequest reports whether the HTTP/1.1 engine's parsed request is
// one the gateway refuses rather than forwards: status 0 when it is fine,
// else the status to answer and why. After a refusal the connection must be
// closed: the bytes that follow cannot be trusted to start a request.
//
// The engine is lenient where a proxy must not be: it accepts header names
// with inner spaces ("Content Length: 5"), folded lines, bare LF line ends
// inside the header block and any HTTP/x.y version, and forwards them. An
// upstream that reads such a request differently than we do can be
// desynchronised, so each of these is refused here, as nginx and the HTTP/2
// engine refuse them. The check reads the header block as received
// (RawHeaders), not the engine's normalized view. It does not allocate.
// seen tells which of the headers the upstream preparation removes the
// request holds (see headerSet).
func checkFastRequest(fc *fasthttp.RequestCtx) (status int, reason string, seen headerSet) {
	h := &fc.Request.Header
	if m := h.Method(); len(m) > maxMethodLen {
		return fasthttp.StatusBadRequest, reasonMethodTooLong, 0
	} else if !isToken(m) {
		return fasthttp.StatusBadRequest, reasonMethodInvalid, 0
	}
	// Only HTTP/1.0 and HTTP/1.1 are spoken on this engine; a request line
	// naming any other version (HTTP/2.0 sent as text, HTTP/1.2) is not
	// forwarded under a version the upstream would misread (RFC 9110 15.6.6).
	if p := h.Protocol(); string(p) != "HTTP/1.1" && string(p) != "HTTP/1.0" {
		return fasthttp.StatusHTTPVersionNotSupported, reasonVersion, 0
	}
	raw := h.RawHeaders()
	status, reason, seen = checkHeaderBlock(raw)
	// Without the block as received (a request not read from the wire),
	// or with a chunked body, whose trailer fields the engine merges into
	// the header after this pass, presence is not known: remove all.
	if len(raw) == 0 || seen.has(hopBit(hopTransferEncoding)) {
		seen = allHeaders
	}
	return status, reason, seen
}

// checkHeaderBlock checks a header block as received: "Name: value\r\n"
// lines up to and including the empty line that ends it, and notes the
// names the upstream preparation removes.
func checkHeaderBlock(raw []byte) (status int, reason string, seen headerSet) {
	var cl []byte // the first Content-Length value
	sawCL, sawTE := false, false
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		// RFC 9112 2.2 lets a recipient take a bare LF as a line end; the
		// engine does so only until it looks for the CRLFCRLF that ends
		// the block, so a proxy accepting them would frame requests
		// differently than its upstream may. Every line ends in CRLF.
		if i < 1 || raw[i-1] != '\r' {
			return fasthttp.StatusBadRequest, reasonBareLF, 0
		}
		line := raw[:i-1]
		raw = raw[i+1:]
		if len(line) == 0 {
			break // the empty line ending the block
		}
		// A line starting with whitespace continues the previous one (obs-fold);
		// RFC 9112 5.2 lets a server refuse it, and nginx does.
		if line[0] == ' ' || line[0] == '\t' {
			return fasthttp.StatusBadRequest, reasonObsFold, 0
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return fasthttp.StatusBadRequest, reasonHeaderName, 0
		}
		name, value := line[:colon], line[colon+1:]
		seen |= stripBit(name)
		if !validFieldValue(value) {
			return fasthttp.StatusBadRequest, reasonHeaderValue, 0
		}
		value = trimOWS(value)
		switch {
		case equalFoldASCII(name, "content-length"):
			// The engine refuses a repeated Content-Length already; this
			// keeps the rule here too, where it cannot be configured away.
			if sawCL && !bytes.Equal(cl, value) {
				return fasthttp.StatusBadRequest, reasonContentLength, 0
			}
			sawCL, cl = true, value
		case equalFoldASCII(name, "transfer-encoding"):
			// chunked is the only transfer coding a request may use here;
			// RFC 9112 6.1 answers any other with 501, as nginx does.
			if sawTE || !equalFoldASCII(value, "chunked") {
				return fasthttp.StatusNotImplemented, reasonTransferCoding, 0
			}
			sawTE = true
		}
	}
	// Both framings at once is the classic smuggling shape (RFC 9112 6.3).
	if sawCL && sawTE {
		return fasthttp.StatusBadRequest, reasonFraming, 0
	}
	return 0, "", seen
}

// tokenByte marks the tchar bytes of RFC 9110 5.6.2, of which methods and
// header names are made.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// fieldValueByte marks the bytes a header value may hold (RFC 9110 5.5):
// visible characters, space, tab and obs-text; no other control byte, so
// no NUL and no CR outside the line end.
var fieldValueByte = func() (t [256]bool) {
	for c := 0x20; c < 0x100; c++ {
		t[c] = c != 0x7f
	}
	t['\t'] = true
	return t
}()

// validFieldValue reports whether v holds only fieldValueByte bytes. Values
// are most of a header block, so it looks at eight bytes at a time: a word
// with no byte below 0x20 and none equal to 0x7f is valid as a whole, and
// only a word with a tab or a bad byte is looked at byte by byte.
func validFieldValue(v []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(v) >= 8 {
		x := binary.LittleEndian.Uint64(v)
		del := x ^ 0x7f*ones
		if (x-0x20*ones)&^x&highs|(del-ones)&^del&highs != 0 {
			for _, c := range v[:8] {
				if !fieldValueByte[c] {
					return false
				}
			}
		}
		v = v[8:]
	}
	for _, c := range v {
		if !fieldValueByte[c] {
			return false
		}
	}
	return true
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenByte[c] {
			return false
		}
	}
	return true
}

// equalFoldASCII compares b with lower, which must be lower case ASCII.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
