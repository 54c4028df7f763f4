package listener

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/ir"
)

// TestHeadScan feeds streams to the head scan cut at every point (a head
// arrives in as many reads as the network likes) and checks its verdict.
func TestHeadScan(t *testing.T) {
	const get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	const bareGet = "GET / HTTP/1.1\nHost: a\n\n"
	cases := []struct {
		name   string
		stream string
		bad    bool
		state  scanState // where the scan is after the stream
	}{
		{"CRLF head", get, false, scanHead},
		{"bare LF head", bareGet, true, scanLost},
		{"bare LF ending one field line", "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", true, scanLost},
		{"bare LF ending the block only", "GET / HTTP/1.1\r\nHost: a\r\n\n", true, scanLost},
		{"bare LF ending the request line only", "GET / HTTP/1.1\nHost: a\r\n\r\n", false, scanHead},
		{"empty lines before the request line", "\r\n\n" + get, false, scanHead},
		{"keep-alive requests, the second bare LF", get + get + bareGet, true, scanLost},
		{"body skipped by its length", "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: " + strconv.Itoa(len(bareGet)) + "\r\n\r\n" + bareGet + get, false, scanHead},
		{"a bare LF head after a body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  3 \r\n\r\nabc" + bareGet, true, scanLost},
		{"a body still arriving", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99\r\n\r\n" + bareGet, false, scanBody},
		{"a chunked body is not followed", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + bareGet, false, scanLost},
		{"an unreadable length is not followed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\n" + bareGet, false, scanLost},
		{"two lengths are not followed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab" + bareGet, false, scanLost},
		{"a length past the kept prefix is not followed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:" + strings.Repeat(" ", 40) + "3\r\n\r\nabc" + bareGet, false, scanLost},
		{"not a request line", "\x81\x85abcd\nHost: a\n\n", false, scanLost},
		{"no version", "GET /\nHost: a\n\n", false, scanLost},
		{"a head over the limit", "GET / HTTP/1.1\nX: " + strings.Repeat("a", 300) + "\n\n", false, scanLost},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for cut := 0; cut <= len(tc.stream); cut++ {
				var s headScan
				s.maxHead = 256
				s.startHead()
				s.feed([]byte(tc.stream[:cut]))
				s.feed([]byte(tc.stream[cut:]))
				if s.bad != tc.bad || s.state != tc.state {
					t.Fatalf("cut at %d: bad %v, state %d; want %v, %d", cut, s.bad, s.state, tc.bad, tc.state)
				}
			}
			var s headScan
			s.maxHead = 256
			s.startHead()
			for i := range len(tc.stream) {
				s.feed([]byte{tc.stream[i]})
			}
			if s.bad != tc.bad || s.state != tc.state {
				t.Fatalf("byte by byte: bad %v, state %d; want %v, %d", s.bad, s.state, tc.bad, tc.state)
			}
		})
	}
}

// The engine finds TLS (and client certificates) by methods of the
// connection; the watch must keep them.
func TestWatchKeepsTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := watch(tls.Server(a, &tls.Config{}), 1024).(tlsConn); !ok {
		t.Fatal("a watched TLS connection no longer looks like TLS to the engine")
	}
	if _, ok := watch(b, 1024).(tlsConn); ok {
		t.Fatal("a watched plain connection looks like TLS")
	}
}

// refusalLog collects what a listener reports through Handlers.Refused.
type refusalLog struct {
	mu   sync.Mutex
	seen []Refusal
}

func (r *refusalLog) add(x Refusal) {
	r.mu.Lock()
	r.seen = append(r.seen, x)
	r.mu.Unlock()
}

func (r *refusalLog) last() (Refusal, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return Refusal{}, false
	}
	return r.seen[len(r.seen)-1], true
}

// TestHTTP1RefusalsAnsweredAtOnce runs the real HTTP/1.1 engine behind a
// listener: a bare LF head is answered 400 at once (the engine alone waits
// for the read timeout), and every answer the engine gives itself is
// reported with what it parsed of the request.
func TestHTTP1RefusalsAnsweredAtOnce(t *testing.T) {
	var refusals refusalLog
	var served sync.Map
	h := Handlers{
		Fast: func(ctx *fasthttp.RequestCtx) {
			served.Store(string(ctx.Path()), true)
			ctx.SetBodyString("ok")
		},
		Refused: refusals.add,
	}
	m := NewManager(h, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })
	cfg := &ir.Listener{Name: "web", Address: "127.0.0.1:0", Protocol: ir.ProtocolHTTP,
		Limits: ir.Limits{MaxHeaderBytes: 2048, MaxBodyBytes: 64}}
	if err := m.Apply(cfg, 1, ""); err != nil {
		t.Fatal(err)
	}
	addr := m.Addr("web").String()

	const get = "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
	const chunked = "POST /first HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n\n\n\n\r\n0\r\n\r\n"
	cases := []struct {
		name     string
		first    string // a request answered 200 first, on the same connection
		raw      string
		status   int
		reason   string
		refusal  Refusal // the fields filled from the parsed head
		unserved string  // a path the handler must not have seen
	}{
		{"bare LF head", "", "GET /bare HTTP/1.1\nHost: a\n\n", 400, reasonBareLF, Refusal{}, "/bare"},
		{"bare LF head with a body", "", "POST /bare HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello", 400, reasonBareLF, Refusal{}, "/bare"},
		{"bare LF after a keep-alive request", get, "GET /bare HTTP/1.1\nHost: a\n\n", 400, reasonBareLF, Refusal{}, "/bare"},
		{"bare LF after a chunked request", chunked, "GET /bare HTTP/1.1\nHost: a\n\n", 400, reasonBareLF, Refusal{}, "/bare"},
		{"header over the limit", "", "GET /big HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", 3000) + "\r\n\r\n", 431, "header too large", Refusal{}, "/big"},
		{"body over the limit", "", "POST /body HTTP/1.1\r\nHost: b.example\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("b", 100), 413, "body too large",
			Refusal{Proto: "HTTP/1.1", Method: "POST", Host: "b.example", Path: "/body"}, "/body"},
		{"unknown transfer coding", "", "POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "unsupported transfer-encoding", Refusal{}, "/te"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(c)
			if tc.first != "" {
				if _, err := io.WriteString(c, tc.first); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("first request: %v %v", resp, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
			}
			start := time.Now()
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer after %v: %v", time.Since(start), err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if took := time.Since(start); resp.StatusCode != tc.status || took > 2*time.Second {
				t.Fatalf("answered %d after %v, want %d at once", resp.StatusCode, took, tc.status)
			}
			// Closed: EOF, or a reset when the engine closed with unread
			// request bytes (the rest of an oversize head).
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("connection not closed after the refusal: %v", err)
			}
			if _, ok := served.Load(tc.unserved); ok {
				t.Fatalf("the handler saw %s", tc.unserved)
			}
			r, ok := refusals.last()
			if !ok || r.Status != tc.status || r.Reason != tc.reason || r.Remote == nil {
				t.Fatalf("reported %+v, want status %d, reason %q", r, tc.status, tc.reason)
			}
			if r.Method != tc.refusal.Method || r.Host != tc.refusal.Host || r.Path != tc.refusal.Path || tc.refusal.Proto != "" && r.Proto != tc.refusal.Proto {
				t.Fatalf("reported %+v, want the request named as %+v", r, tc.refusal)
			}
		})
	}

	t.Run("CRLF requests are not refused", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		// A body holding a bare LF head, a pipelined pair, and a request
		// line ended by a bare LF (which the engine accepts).
		body := "GET /x HTTP/1.1\nHost: a\n\n"
		raw := "POST /ok1 HTTP/1.1\r\nHost: a\r\nContent-Length: 25\r\n\r\n" + body +
			"GET /ok2 HTTP/1.1\r\nHost: a\r\n\r\nGET /ok3 HTTP/1.1\r\nHost: a\r\n\r\n" +
			"GET /ok4 HTTP/1.1\nHost: a\r\n\r\n"
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v", i+1, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("response %d: %d", i+1, resp.StatusCode)
			}
		}
	})
}

// browserHead is a request head of ordinary size, with a short body.
const browserHead = "POST /api/v1/orders?id=42 HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
	"Accept: application/json, text/plain, */*\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 11\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
	"\r\n" +
	`{"qty": 42}`

// Every HTTP/1.1 byte read passes the head scan: it must not allocate.
func TestHeadScanAllocs(t *testing.T) {
	var s headScan
	s.maxHead = 8192
	s.startHead()
	p := []byte(browserHead)
	if allocs := testing.AllocsPerRun(100, func() { s.feed(p) }); allocs != 0 {
		t.Fatalf("the head scan allocates %.1f times per request, want 0", allocs)
	}
	if s.bad || s.state != scanHead {
		t.Fatalf("after keep-alive requests: bad %v, state %d", s.bad, s.state)
	}
}

func BenchmarkHeadScan(b *testing.B) {
	var s headScan
	s.maxHead = 8192
	s.startHead()
	p := []byte(browserHead)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		s.feed(p)
	}
	if s.bad || s.state != scanHead {
		b.Fatalf("bad %v, state %d", s.bad, s.state)
	}
}

// FuzzHeadScan: the scan reads whatever clients send. It must not panic,
// its verdict must not depend on how the bytes were cut into reads, and it
// may only find a bare LF where there is one.
func FuzzHeadScan(f *testing.F) {
	for _, seed := range []string{
		browserHead,
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\nHost: a\n\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		f.Add([]byte(seed), uint16(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		whole := headScan{maxHead: 1024}
		whole.startHead()
		whole.feed(data)
		c := int(cut) % (len(data) + 1)
		split := headScan{maxHead: 1024}
		split.startHead()
		split.feed(data[:c])
		split.feed(data[c:])
		if whole.bad != split.bad || whole.state != split.state || whole.body != split.body {
			t.Fatalf("cut at %d: bad %v state %d body %d; whole: bad %v state %d body %d",
				c, split.bad, split.state, split.body, whole.bad, whole.state, whole.body)
		}
		if whole.bad && !strings.Contains(strings.ReplaceAll(string(data), "\r\n", ""), "\n") {
			t.Fatalf("found a bare LF in %q", data)
		}
	})
}
