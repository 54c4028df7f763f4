package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Answer is how the gateway answered one HTTP/2 request.
type h2Answer struct {
	status int           // the response's :status, 0 if none came
	reset  http2.ErrCode // the RST_STREAM code, when the stream was reset
	goAway http2.ErrCode // the GOAWAY code, when the connection was shut instead
	shut   bool          // a GOAWAY came
	took   time.Duration
}

// sendH2 sends one request with exactly the header fields given (as a
// hostile client could, with no client library's checks) and the body, if
// any, and waits no longer than refusalTime for the answer.
func sendH2(t *testing.T, conn net.Conn, fields [][2]string, body []byte) h2Answer {
	t.Helper()
	defer conn.Close()
	start := time.Now()
	_ = conn.SetDeadline(start.Add(refusalTime))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(),
		EndStream: body == nil, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		// The gateway may refuse on the head alone and reset the stream
		// before the body is written: that is its answer, not a failure.
		_ = fr.WriteData(1, true, body)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no answer within %v: %v", refusalTime, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			st, _ := strconv.Atoi(f.PseudoValue("status"))
			return h2Answer{status: st, took: time.Since(start)}
		case *http2.RSTStreamFrame:
			return h2Answer{reset: f.ErrCode, took: time.Since(start)}
		case *http2.GoAwayFrame:
			return h2Answer{goAway: f.ErrCode, shut: true, took: time.Since(start)}
		}
	}
}

// TestBadInputHTTP2 sends the shapes of TestBadInputHTTP1 that HTTP/2 can
// carry over h2c and over TLS, with a raw framer. A malformed request is
// answered 400 or its stream reset with PROTOCOL_ERROR (RFC 9113 8.1.1
// allows both; the body that follows a reset stream may also cost the
// connection, a GOAWAY with PROTOCOL_ERROR); a limit is answered with its
// status. None reaches the upstream, and every answer with a status is
// logged and counted.
func TestBadInputHTTP2(t *testing.T) {
	t.Parallel()
	env := startBadInputEnv(t)
	dials := []struct {
		name, scheme string
		dial         func(t *testing.T) net.Conn
	}{
		{"h2c", "http", func(t *testing.T) net.Conn {
			c, err := net.DialTimeout("tcp", env.h2c, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"tls", "https", func(t *testing.T) net.Conn {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", env.https,
				&tls.Config{ServerName: "bad.example.com", RootCAs: env.ca.Pool, NextProtos: []string{"h2"}})
			if err != nil {
				t.Fatal(err)
			}
			if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
				t.Fatalf("ALPN chose %q, want h2", p)
			}
			return c
		}},
	}
	const malformed = 400 // or a stream reset with PROTOCOL_ERROR
	big := make([][2]string, 0, 20)
	for i := range cap(big) {
		big = append(big, [2]string{fmt.Sprintf("x-big-%d", i), strings.Repeat("a", env.maxHeader/10)})
	}
	cases := []struct {
		name   string
		method string
		fields [][2]string // after the pseudo-headers
		body   []byte
		status int
	}{
		{"header name with a space", "GET", [][2]string{{"x bad", "1"}}, nil, malformed},
		{"transfer encoding with a space", "POST", [][2]string{{"transfer encoding", "chunked"}}, []byte("5\r\nhello\r\n0\r\n\r\n"), malformed},
		{"content length with a space", "POST", [][2]string{{"content length", "5"}}, []byte("hello"), malformed},
		{"NUL in a header value", "GET", [][2]string{{"x-a", "a\x00b"}}, nil, malformed},
		{"CR in a header value", "GET", [][2]string{{"x-a", "a\rb"}}, nil, malformed},
		{"transfer-encoding chunked", "POST", [][2]string{{"transfer-encoding", "chunked"}}, []byte("0\r\n\r\n"), malformed},
		{"transfer-encoding gzip, chunked", "POST", [][2]string{{"transfer-encoding", "gzip, chunked"}}, []byte("0\r\n\r\n"), malformed},
		{"5,000-byte method", strings.Repeat("M", 5000), nil, nil, malformed},
		{"method not a token", "G(T", nil, nil, malformed},
		{"two different content-lengths", "POST", [][2]string{{"content-length", "5"}, {"content-length", "6"}}, []byte("hello"), malformed},
		{"header block over maxHeaderBytes", "GET", big, nil, 431},
		{"body over maxBodyBytes", "POST", [][2]string{{"content-length", strconv.Itoa(2 * env.maxBody)}}, bytes.Repeat([]byte("b"), 2*env.maxBody), 413},
	}
	for _, d := range dials {
		t.Run(d.name, func(t *testing.T) {
			valid := [][2]string{{":method", "GET"}, {":scheme", d.scheme}, {":authority", "bad.example.com"}, {":path", "/bad-valid-" + d.name}}
			if a := sendH2(t, d.dial(t), valid, nil); a.status != 200 {
				t.Fatalf("a valid request got %+v", a)
			}
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					path := fmt.Sprintf("/bad-%s-%02d", d.name, i)
					fields := append([][2]string{{":method", tc.method}, {":scheme", d.scheme},
						{":authority", "bad.example.com"}, {":path", path}}, tc.fields...)
					env.recorded(t, path, path, tc.status, func() int {
						a := sendH2(t, d.dial(t), fields, tc.body)
						refused := a.status == tc.status || tc.status == malformed &&
							(a.reset == http2.ErrCodeProtocol || a.shut && a.goAway == http2.ErrCodeProtocol)
						if !refused || a.took > refusalTime {
							t.Fatalf("answered %+v, want %d", a, tc.status)
						}
						return a.status
					})
				})
			}
		})
	}
}
