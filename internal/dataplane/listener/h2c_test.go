package listener

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"pylon.io/pylon/internal/ir"
)

func TestSniffOpening(t *testing.T) {
	cases := []struct {
		name, in string
		want     opening
	}{
		{"nothing", "", openingGone},
		{"preface", http2.ClientPreface + "\x00\x00\x00\x04\x00\x00\x00\x00\x00", openingH2},
		{"preface alone", http2.ClientPreface, openingH2},
		{"preface first line, then other bytes", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", openingBadH2},
		{"preface first line, bare LF", "PRI * HTTP/2.0\nSM\n", openingBadH2},
		{"h2spec's invalid preface", "INVALID CONNECTION PREFACE\r\n\r\n", openingBadH2},
		{"version-less line", "GET /\r\n\r\n", openingBadH2},
		{"HTTP/1.1", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", openingHTTP1},
		{"HTTP/1.0 shorter than the preface", "GET / HTTP/1.0\r\n\r\n", openingHTTP1},
		{"HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", openingHTTP1},
		{"PRI with another version", "PRI * HTTP/1.1\r\n\r\n", openingHTTP1},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", openingHTTP1},
		{"empty first line", "\r\nGET / HTTP/1.1\r\n\r\n", openingHTTP1},
		{"space in the version", "GET / HTTP/ 1.1\r\n\r\n", openingBadH2},
		{"ends mid-line", "GET / HTT", openingHTTP1},
		{"ends in the preface", "PRI * HT", openingHTTP1},
		{"line longer than the sniff buffer", "GET /" + strings.Repeat("a", 2*sniffBuf) + " HTTP/1.1\r\n\r\n", openingHTTP1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := sniffOpening(bufio.NewReaderSize(strings.NewReader(c.in), sniffBuf)); got != c.want {
				t.Fatalf("sniffOpening(%.40q) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}

// TestH2CInvalidPreface: on an h2c listener, a connection that is neither
// HTTP/2 nor an HTTP/1.x request ends with the server's SETTINGS and a
// GOAWAY PROTOCOL_ERROR (RFC 9113 3.4); an HTTP/1.x request line, even a
// wrong one, is answered in HTTP/1.1.
func TestH2CInvalidPreface(t *testing.T) {
	srv := startH2Server(t, ir.ProtocolH2C, ir.Limits{})
	for _, in := range []string{"INVALID CONNECTION PREFACE\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"} {
		t.Run(in, func(t *testing.T) {
			c := dialPlain(t, srv.addr)
			if _, err := io.WriteString(c, in); err != nil {
				t.Fatal(err)
			}
			fr := http2.NewFramer(nil, c)
			var got []string
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					if err != io.EOF {
						t.Fatalf("after %v: %v, want the connection closed", got, err)
					}
					break
				}
				got = append(got, f.Header().Type.String())
				if ga, ok := f.(*http2.GoAwayFrame); ok && ga.ErrCode != http2.ErrCodeProtocol {
					t.Fatalf("GOAWAY %v, want PROTOCOL_ERROR", ga.ErrCode)
				}
			}
			if strings.Join(got, " ") != "SETTINGS GOAWAY" {
				t.Fatalf("frames %v, want SETTINGS GOAWAY then the end", got)
			}
		})
	}
	t.Run("HTTP/1.1 still served", func(t *testing.T) {
		c := dialPlain(t, srv.addr)
		if _, err := io.WriteString(c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("HTTP/1.1 on an h2c listener: %q, %v", line, err)
		}
	})
}

func dialPlain(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}
