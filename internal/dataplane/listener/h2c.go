package listener

import (
	"bufio"
	"bytes"
	"net"
	"time"

	"golang.org/x/net/http2"
)

var h2Preface = []byte(http2.ClientPreface)

// sniffBuf is how much of a connection's start sniffH2C reads at most to
// find the end of the first line.
const sniffBuf = 4096

// opening is what a connection on an h2c listener starts with.
type opening int

const (
	openingGone  opening = iota // closed or timed out before a byte
	openingH2                   // the HTTP/2 connection preface
	openingHTTP1                // anything the HTTP/1.1 engine should judge
	openingBadH2                // a failed HTTP/2 preface
)

// sniffH2C sends connections that open with the HTTP/2 preface to the
// HTTP/2 engine, HTTP/1.x requests to the HTTP/1.1 engine, and ends those
// that are neither with a connection error.
func (l *Listener) sniffH2C(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(l.lim.ReadTimeout.D()))
	br := bufio.NewReaderSize(c, sniffBuf)
	kind := sniffOpening(br)
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	switch kind {
	case openingGone:
		c.Close()
	case openingH2:
		l.deliver(l.stdln, l.guard(pc))
	case openingBadH2:
		// RFC 9113 3.4: an invalid preface is a connection error of type
		// PROTOCOL_ERROR. The server's preface (SETTINGS) comes first,
		// as it must open every HTTP/2 connection the server speaks on.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		fr := http2.NewFramer(c, nil)
		_ = fr.WriteSettings()
		_ = fr.WriteGoAway(0, http2.ErrCodeProtocol, nil)
		l.log.Debug("invalid http/2 connection preface", "remote", c.RemoteAddr().String())
		c.Close()
	default:
		l.deliver(l.h1, pc)
	}
}

// sniffOpening reads as much of br as it takes to tell what the
// connection speaks, leaving it all buffered.
//
// An h2c listener serves HTTP/1.1 and HTTP/2 with prior knowledge on one
// port, so a connection that does not start with the exact HTTP/2 preface
// is not simply HTTP/1.1. The first line decides:
//   - "PRI * HTTP/2.0" is the preface's first line. The PRI method exists
//     only for it (RFC 9113 3.4, "PRI" in the IANA method registry), so a
//     client sending it speaks HTTP/2, and a preface that deviates after
//     it is a failed HTTP/2 preface, not an HTTP/1.1 request.
//   - A line that ends in an HTTP version ("GET / HTTP/1.1", and also
//     "HTTP/2.0" or "HTTP/9.9") is an HTTP/1.x request line, right or
//     wrong; the HTTP/1.1 engine answers it, with the status it gives on
//     a plain HTTP listener.
//   - Any other line is neither protocol. As a request line it is invalid,
//     as an HTTP/2 preface it is too; the listener treats it as the latter,
//     a connection error, which a client of either protocol sees as the
//     connection closing (RFC 9113 3.4 lets the GOAWAY be omitted: such a
//     peer is not speaking HTTP/2).
//
// An empty first line (RFC 9112 2.2 lets a server skip one), a line longer
// than the sniff buffer and a connection that stops mid-line go to the
// HTTP/1.1 engine, which answers them as it does on an HTTP listener.
func sniffOpening(br *bufio.Reader) opening {
	// Compare byte by byte as they arrive: an HTTP/1.x request shorter
	// than the preface ("GET / HTTP/1.0\r\n\r\n") must not wait for more.
	n := 0
	for ; n < len(h2Preface); n++ {
		head, err := br.Peek(n + 1)
		if err != nil {
			if n == 0 {
				return openingGone
			}
			break
		}
		if head[n] != h2Preface[n] {
			break
		}
	}
	if n == len(h2Preface) {
		return openingH2
	}
	line, ok := firstLine(br)
	switch {
	case !ok || len(line) == 0:
		return openingHTTP1
	case string(line) == "PRI * HTTP/2.0":
		return openingBadH2
	}
	version := line[bytes.LastIndexByte(line, ' ')+1:]
	if bytes.HasPrefix(version, []byte("HTTP/")) {
		return openingHTTP1
	}
	return openingBadH2
}

// firstLine peeks at br until its first LF and returns the line before it
// without CR; false when the line does not end within the buffer or the
// connection.
func firstLine(br *bufio.Reader) ([]byte, bool) {
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			return bytes.TrimSuffix(buf[:i], []byte("\r")), true
		}
		if len(buf) == sniffBuf {
			return nil, false
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return nil, false
		}
	}
}
