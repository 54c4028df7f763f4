package listener

import (
	"bytes"
	"strings"
)

type scanState uint8

const (
	scanLost scanState = iota // framing not followed until the next write
	scanHead                  // in a request head, or before one
	scanBody                  // skipping a Content-Length body
)

// prefixLen is how much of a header line is kept: enough for
// "Content-Length:" and a value of ordinary length.
const prefixLen = 40

// headScan follows request heads through the bytes read. It keeps of each
// line only its first and last bytes, so it costs a few operations per
// line and no allocation.
type headScan struct {
	state   scanState
	bad     bool // a header line ended in a bare LF
	maxHead int

	headLen int // bytes of the current head so far
	lines   int // lines of the current head so far, request line included
	lineLen int
	prefix  [prefixLen]byte // the current line's first bytes
	suffix  [10]byte        // the current line's last bytes, for " HTTP/1.1\r"

	bareLF  bool
	chunked bool  // a Transfer-Encoding line was seen: framing not followed
	length  int64 // Content-Length, -1 if none, -2 if unreadable
	body    int64 // body bytes still to skip in scanBody
}

func (s *headScan) startHead() {
	s.state, s.headLen, s.lines, s.lineLen = scanHead, 0, 0, 0
	s.bareLF, s.chunked, s.length = false, false, -1
}

func (s *headScan) feed(p []byte) {
	for len(p) > 0 {
		switch s.state {
		case scanLost:
			return
		case scanBody:
			n := int64(len(p))
			if n > s.body {
				n = s.body
			}
			s.body -= n
			p = p[n:]
			if s.body == 0 {
				s.startHead()
			}
		case scanHead:
			p = s.head(p)
		}
	}
}

// head consumes bytes of a head, returning those after its end.
func (s *headScan) head(p []byte) []byte {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		s.take(seg)
		if i < 0 {
			return nil
		}
		p = p[i+1:]
		s.headLen++
		if s.endLine() || s.state != scanHead {
			return p
		}
	}
	return nil
}

func (s *headScan) take(seg []byte) {
	if s.lineLen < prefixLen {
		copy(s.prefix[s.lineLen:], seg)
	}
	if len(seg) >= len(s.suffix) {
		copy(s.suffix[:], seg[len(seg)-len(s.suffix):])
	} else {
		copy(s.suffix[:], s.suffix[len(seg):])
		copy(s.suffix[len(s.suffix)-len(seg):], seg)
	}
	s.lineLen += len(seg)
	s.headLen += len(seg)
	if s.headLen > s.maxHead {
		// The engine answers 431 for this head; nothing to follow.
		s.state = scanLost
	}
}

// endLine judges the line just ended by LF; true when it ended the head.
func (s *headScan) endLine() bool {
	crlf := s.lineLen > 0 && s.suffix[len(s.suffix)-1] == '\r'
	n := s.lineLen
	if crlf {
		n--
	}
	s.lineLen = 0
	if n == 0 {
		if s.lines == 0 {
			return false // empty lines before a request line are skipped, as the engine does
		}
		if !crlf {
			s.bareLF = true
		}
		s.endHead()
		return true
	}
	s.lines++
	if s.lines == 1 {
		if !requestLine(n, s.prefix[0], &s.suffix, crlf) {
			s.state = scanLost // not a request: a body or another protocol
		}
		return false
	}
	if !crlf {
		s.bareLF = true
	}
	line := s.prefix[:min(n, prefixLen)]
	switch {
	case len(line) > 15 && equalFoldPrefix(line, "content-length:"):
		v, ok := parseLength(line[15:], n <= prefixLen)
		if !ok || s.length != -1 && s.length != v {
			v = -2
		}
		s.length = v
	case len(line) > 18 && equalFoldPrefix(line, "transfer-encoding:"):
		s.chunked = true
	}
	return false
}

func (s *headScan) endHead() {
	switch {
	case s.bareLF:
		s.bad, s.state = true, scanLost
	case s.chunked || s.length == -2:
		s.state = scanLost
	case s.length > 0:
		s.state, s.body = scanBody, s.length
	default:
		s.startHead()
	}
}

// requestLine reports whether a line of n bytes (CR excluded) starting with
// first and ending with suffix looks like a request line: a token
// character first, " HTTP/d.d" last. suffix holds the line's last bytes, a
// final CR included when crlf.
func requestLine(n int, first byte, suffix *[10]byte, crlf bool) bool {
	if n < len("G * HTTP/1.1") || !tokenChar(first) {
		return false
	}
	v := suffix[1:]
	if crlf {
		v = suffix[:9]
	}
	return v[0] == ' ' && string(v[1:6]) == "HTTP/" && isDigit(v[6]) && v[7] == '.' && isDigit(v[8])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tokenChar reports whether c is a tchar (RFC 9110 5.6.2).
func tokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		return true
	}
	return c != 0 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func equalFoldPrefix(b []byte, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseLength reads a Content-Length value (after the colon); whole says
// the value was kept entire. A value the engine would refuse is not ok.
func parseLength(v []byte, whole bool) (int64, bool) {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	if !whole || len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
