package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
)

// parseHead reads a request head the way the HTTP/1.1 engine does.
func parseHead(t testing.TB, head string) *fasthttp.RequestCtx {
	t.Helper()
	var fc fasthttp.RequestCtx
	if err := fc.Request.Header.Read(bufio.NewReaderSize(strings.NewReader(head), 64<<10)); err != nil {
		t.Fatalf("the engine refuses the head itself (%v); the case tests nothing of ours", err)
	}
	return &fc
}

func TestCheckFastRequest(t *testing.T) {
	const host = "Host: a.example\r\n"
	cases := []struct {
		name   string
		head   string
		status int
		reason string
	}{
		{"plain GET", "GET / HTTP/1.1\r\n" + host + "\r\n", 0, ""},
		{"HTTP/1.0 without headers", "GET / HTTP/1.0\r\n\r\n", 0, ""},
		{"extension method", "PROPFIND /d HTTP/1.1\r\n" + host + "\r\n", 0, ""},
		{"method at the length limit", strings.Repeat("M", maxMethodLen) + " / HTTP/1.1\r\n" + host + "\r\n", 0, ""},
		{"chunked body", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n", 0, ""},
		{"chunked, any case and spacing", "POST / HTTP/1.1\r\n" + host + "transfer-encoding:  Chunked \r\n\r\n", 0, ""},
		{"content-length", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\n", 0, ""},
		{"value with tab, obs-text and punctuation", "GET / HTTP/1.1\r\n" + host + "X-A: a\tb \xe2\x82\xac \"q\" (c)\r\n\r\n", 0, ""},
		{"empty value", "GET / HTTP/1.1\r\n" + host + "X-Empty:\r\n\r\n", 0, ""},
		{"every tchar in a name", "GET / HTTP/1.1\r\n" + host + "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", 0, ""},

		{"space inside a name", "GET / HTTP/1.1\r\n" + host + "X Bad: 1\r\n\r\n", 400, reasonHeaderName},
		{"Transfer Encoding with a space", "POST / HTTP/1.1\r\n" + host + "Transfer Encoding: chunked\r\n\r\n", 400, reasonHeaderName},
		{"Content Length with a space", "POST / HTTP/1.1\r\n" + host + "Content Length: 5\r\n\r\n", 400, reasonHeaderName},
		{"bare LF ending a field line", "GET / HTTP/1.1\r\n" + host + "X-A: 1\nX-B: 2\r\n\r\n", 400, reasonBareLF},
		// The engine parses this block only because a later CRLFCRLF (here a
		// pipelined request) is in its buffer.
		{"bare LF ending the block", "GET / HTTP/1.1\r\n" + host + "\nGET / HTTP/1.1\r\n" + host + "\r\n", 400, reasonBareLF},
		{"folded line", "GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n", 400, reasonObsFold},
		{"HTTP/2.0 request line", "GET / HTTP/2.0\r\n" + host + "\r\n", 505, reasonVersion},
		{"HTTP/1.2 request line", "GET / HTTP/1.2\r\n" + host + "\r\n", 505, reasonVersion},
		{"HTTP/0.9 request line", "GET / HTTP/0.9\r\n" + host + "\r\n", 505, reasonVersion},
		{"5,000-byte method", strings.Repeat("M", 5000) + " / HTTP/1.1\r\n" + host + "\r\n", 400, reasonMethodTooLong},
		{"method over the limit by one", strings.Repeat("M", maxMethodLen+1) + " / HTTP/1.1\r\n" + host + "\r\n", 400, reasonMethodTooLong},
		{"content-length and transfer-encoding", "POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400, reasonFraming},
		{"transfer-encoding and content-length 0", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400, reasonFraming},
		{"transfer-encoding identity", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\n\r\n", 501, reasonTransferCoding},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, reason, _ := checkFastRequest(parseHead(t, tc.head))
			if status != tc.status || reason != tc.reason {
				t.Fatalf("checkFastRequest = %d %q, want %d %q", status, reason, tc.status, tc.reason)
			}
		})
	}
}

// Shapes the engine refuses before any handler runs; checkHeaderBlock
// refuses them too, so the rule holds whatever the engine's next version
// lets through.
func TestCheckHeaderBlock(t *testing.T) {
	cases := []struct {
		name   string
		block  string
		status int
	}{
		{"empty block", "", 0},
		{"only the end", "\r\n", 0},
		{"NUL in a value", "X-A: a\x00b\r\n\r\n", 400},
		{"control byte in a value", "X-A: a\x01b\r\n\r\n", 400},
		{"space before the colon", "X-A : 1\r\n\r\n", 400},
		{"empty name", ": 1\r\n\r\n", 400},
		{"no colon", "X-A\r\n\r\n", 400},
		{"separator in a name", "X(Bad): 1\r\n\r\n", 400},
		{"non-ASCII name", "X-\xc3\xa9: 1\r\n\r\n", 400},
		{"bare CR in a value", "X-A: a\rb\r\n\r\n", 400},
		{"CR before the line end", "X-A: a\r\r\n\r\n", 400},
		{"DEL in a value", "X-A: a\x7fb\r\n\r\n", 400},
		{"a last line without LF", "X-A: 1\r", 400},
		{"bare LF block end", "X-A: 1\n\n", 400},
		{"two different content-lengths", "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
		{"the same content-length twice", "Content-Length: 5\r\ncontent-length:5\r\n\r\n", 0},
		{"gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"unknown coding", "Transfer-Encoding: foo\r\n\r\n", 501},
		{"chunked twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if status, reason, _ := checkHeaderBlock([]byte(tc.block)); status != tc.status || (status != 0) != (reason != "") {
				t.Fatalf("checkHeaderBlock = %d %q, want %d", status, reason, tc.status)
			}
		})
	}
}

// validFieldValue looks at words, not bytes: every byte value at every
// position of a word, and in the tail, must be judged as the table judges it.
func TestValidFieldValue(t *testing.T) {
	for c := range 256 {
		for pos := range 19 {
			v := []byte(strings.Repeat("a\t", 10)[:19])
			v[pos] = byte(c)
			want := fieldValueByte[c]
			if got := validFieldValue(v); got != want {
				t.Fatalf("validFieldValue with %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
}

// The check runs on every HTTP/1.1 request: it must not allocate.
func TestCheckFastRequestAllocs(t *testing.T) {
	fc := parseHead(t, benchHead)
	allocs := testing.AllocsPerRun(100, func() {
		if status, reason, _ := checkFastRequest(fc); status != 0 {
			t.Fatalf("benchmark request refused: %d %s", status, reason)
		}
	})
	if allocs != 0 {
		t.Fatalf("checkFastRequest allocates %.1f times per request, want 0", allocs)
	}
}

const benchHead = "POST /api/v1/orders?id=42 HTTP/1.1\r\n" +
	"Host: shop.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
	"Accept: application/json, text/plain, */*\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Length: 42\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n" +
	"X-Request-Id: 9f737e432f028ec20000000000000001\r\n" +
	"\r\n"

func BenchmarkCheckFastRequest(b *testing.B) {
	fc := parseHead(b, benchHead)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchHead)))
	for b.Loop() {
		if status, _, _ := checkFastRequest(fc); status != 0 {
			b.Fatal("benchmark request refused")
		}
	}
}

// FuzzCheckFastRequest feeds request heads through the engine's parser and
// the check. Whatever the check accepts must be a request an upstream reads
// as we do: token names (by x/net's rules, not ours), clean values, and a
// version and method we forward.
func FuzzCheckFastRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX Bad: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
		benchHead,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		var fc fasthttp.RequestCtx
		if err := fc.Request.Header.Read(bufio.NewReaderSize(bytes.NewReader(head), 64<<10)); err != nil {
			return // the engine refuses it itself
		}
		status, reason, _ := checkFastRequest(&fc)
		if status != 0 {
			if reason == "" {
				t.Fatalf("refused with %d and no reason", status)
			}
			return
		}
		h := &fc.Request.Header
		if m := h.Method(); len(m) > maxMethodLen || !httpguts.ValidHeaderFieldName(string(m)) {
			t.Fatalf("accepted method %q", m)
		}
		if p := string(h.Protocol()); p != "HTTP/1.1" && p != "HTTP/1.0" {
			t.Fatalf("accepted version %q", p)
		}
		raw := h.RawHeaders()
		for len(raw) > 0 {
			i := bytes.IndexByte(raw, '\n')
			if i < 1 || raw[i-1] != '\r' {
				t.Fatalf("accepted a line not ended by CRLF in %q", h.RawHeaders())
			}
			line := raw[:i-1]
			raw = raw[i+1:]
			if len(line) == 0 {
				break
			}
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok || !httpguts.ValidHeaderFieldName(string(name)) {
				t.Fatalf("accepted header line %q: its name is not a token", line)
			}
			if !httpguts.ValidHeaderFieldValue(string(value)) {
				t.Fatalf("accepted header line %q: invalid value", line)
			}
		}
		var bad []byte
		h.VisitAll(func(k, _ []byte) {
			if bad == nil && !httpguts.ValidHeaderFieldName(string(k)) {
				bad = append([]byte(nil), k...)
			}
		})
		if bad != nil {
			t.Fatalf("accepted request whose parsed header %q is not a token", bad)
		}
	})
}

// The net/http engine refuses what the HTTP/1.1 engine refuses, with the
// same status.
func TestCheckStdRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		cl     []string
		status int
	}{
		{"plain", "GET", nil, 0},
		{"extension method", "PURGE", nil, 0},
		{"long method", strings.Repeat("G", 5000), nil, 400},
		{"method not a token", "G(T", nil, 400},
		{"same length twice", "POST", []string{"5", "5"}, 0},
		{"two lengths", "POST", []string{"5", "6"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Method: tc.method, Header: http.Header{}}
			if tc.cl != nil {
				r.Header["Content-Length"] = tc.cl
			}
			if got, reason := checkStdRequest(r); got != tc.status {
				t.Fatalf("status %d (%s), want %d", got, reason, tc.status)
			}
		})
	}
}
