package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello /path?q=1", `"hello /path?q=1"`},
		{"empty", "", `""`},
		{"quotes and backslash", `say "hi" \ bye`, `"say \"hi\" \\ bye"`},
		{"named controls", "a\nb\rc\td", `"a\nb\rc\td"`},
		{"other controls", "\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"utf-8 kept", "héllo 世界 🙂", `"héllo 世界 🙂"`},
		{"invalid utf-8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
		{"truncated rune mid-string", "\xe4\xb8x", `"\ufffd\ufffdx"`},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"html left alone", "<a href='x'>&</a>", `"<a href='x'>&</a>"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendJSONString(nil, tt.in)); got != tt.want {
				t.Errorf("string: got %s, want %s", got, tt.want)
			}
			if got := string(appendJSONString(nil, []byte(tt.in))); got != tt.want {
				t.Errorf("[]byte: got %s, want %s", got, tt.want)
			}
		})
	}
}

// FuzzAppendJSONString checks that any input yields valid JSON that decodes
// to what encoding/json would produce for the same bytes.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00", "\xff\xfe", "é", "\u2028", "\xe4\xb8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString([]byte("x"), s)[1:]
		var got, want string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %q for %q: %v", out, s, err)
		}
		ref, _ := json.Marshal(s)
		_ = json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("decodes to %q, encoding/json gives %q", got, want)
		}
	})
}

func sampleEntry() *AccessEntry {
	return &AccessEntry{
		Time:           time.Date(2026, 5, 1, 12, 30, 45, 123456789, time.FixedZone("CEST", 2*3600)),
		RequestID:      []byte("req-1"),
		ClientIP:       netip.MustParseAddr("fe80::1%eth0"),
		Method:         []byte("GET"),
		Host:           []byte("shop.example.com"),
		Path:           []byte("/cart?id=\"7\""),
		Protocol:       []byte("HTTP/1.1"),
		Status:         200,
		BytesSent:      1234,
		Duration:       1500 * time.Microsecond,
		Route:          "default/shop",
		Service:        "shop-svc",
		Upstream:       "10.0.0.1:8080",
		UpstreamStatus: 200,
		UserAgent:      []byte("curl/8.0\n"),
	}
}

func TestAccessEntryJSON(t *testing.T) {
	line := appendAccessEntry(nil, sampleEntry())
	if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", line, err)
	}
	want := map[string]any{
		"time": "2026-05-01T10:30:45.123456789Z", "request_id": "req-1", "client_ip": "fe80::1",
		"method": "GET", "host": "shop.example.com", "path": `/cart?id="7"`, "protocol": "HTTP/1.1",
		"status": 200.0, "bytes_sent": 1234.0, "duration_ms": 1.5, "route": "default/shop",
		"service": "shop-svc", "upstream": "10.0.0.1:8080", "upstream_status": 200.0, "user_agent": "curl/8.0\n",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d fields, want %d: %s", len(got), len(want), line)
	}

	var empty map[string]any
	if err := json.Unmarshal(appendAccessEntry(nil, &AccessEntry{}), &empty); err != nil {
		t.Fatalf("zero entry: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the flusher goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAccessLogFlushesAndToggles(t *testing.T) {
	var out syncBuffer
	l := NewAccessLog(&out)
	e := sampleEntry()

	start := time.Now()
	l.Log(e)
	for out.String() == "" {
		if time.Since(start) > 2*time.Second {
			t.Fatal("line not flushed within 2s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if waited := time.Since(start); waited > 500*time.Millisecond {
		t.Errorf("flushed after %v, want about 100ms", waited)
	}

	l.SetEnabled(false)
	if l.Enabled() {
		t.Fatal("Enabled after SetEnabled(false)")
	}
	l.Log(e)
	l.SetEnabled(true)
	e.Status = 503
	l.Log(e) // buffered: only Close gets it out before the next tick
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"status":503`) {
		t.Fatalf("got %d lines, want 2 (the disabled entry dropped):\n%s", len(lines), out.String())
	}
	l.Log(e) // after Close: dropped, no panic
	if err := l.Close(); err == nil {
		t.Fatal("second Close returned nil")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestAccessLogReportsWriteError(t *testing.T) {
	l := NewAccessLog(failingWriter{})
	l.Log(sampleEntry())
	err := l.Close()
	if err == nil || !strings.HasPrefix(err.Error(), "accesslog: write: ") {
		t.Fatalf("Close = %v, want the write error", err)
	}
}

func TestAccessLogDoesNotAllocate(t *testing.T) {
	l := NewAccessLog(io.Discard)
	defer l.Close()
	e := sampleEntry()
	l.Log(e)
	if a := testing.AllocsPerRun(1000, func() { l.Log(e) }); a != 0 {
		t.Errorf("Log: %v allocs per entry, want 0", a)
	}
}

func BenchmarkAccessLog(b *testing.B) {
	l := NewAccessLog(io.Discard)
	defer l.Close()
	e := sampleEntry()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(e)
		}
	})
}

func BenchmarkAppendAccessEntry(b *testing.B) {
	e := sampleEntry()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendAccessEntry(buf[:0], e)
	}
}

// writeRecorder keeps each Write call apart.
type writeRecorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestAccessLogWritesWholeLines: every write the log makes ends at a line's
// end, however the lines fall against its buffer, so a process writing to
// the same stream between two writes never lands inside a line.
func TestAccessLogWritesWholeLines(t *testing.T) {
	var w writeRecorder
	l := NewAccessLog(&w)
	e := sampleEntry()
	n := 0
	for i := range 400 {
		e.Path = []byte("/" + strings.Repeat("p", 1+i*37%900)) // lines of 0.2-1.1 KB, crossing the 64 KB buffer's end
		l.Log(e)
		n++
	}
	e.Path = []byte("/" + strings.Repeat("q", 100<<10)) // one line bigger than the buffer
	l.Log(e)
	n++
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := 0
	for i, p := range w.writes {
		if len(p) == 0 || p[len(p)-1] != '\n' {
			t.Fatalf("write %d of %d (%d bytes) ends inside a line: …%q", i, len(w.writes), len(p), p[max(0, len(p)-40):])
		}
		lines += bytes.Count(p, []byte("\n"))
	}
	if lines != n || len(w.writes) < 3 {
		t.Errorf("%d lines in %d writes, want %d lines in several writes", lines, len(w.writes), n)
	}
}

// TestAccessLogRedirect: lines logged while the log moves to a new writer
// all arrive, each whole, in one writer or the other.
func TestAccessLogRedirect(t *testing.T) {
	var first, second writeRecorder
	l := NewAccessLog(&first)
	var logged atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			e := sampleEntry()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.Status = 200 + (w+i)%300
				l.Log(e)
				logged.Add(1)
			}
		})
	}
	waitLogged := func(n int64) {
		for logged.Load() < n {
			time.Sleep(100 * time.Microsecond)
		}
	}
	waitLogged(2000)
	if err := l.Redirect(func() (io.Writer, error) { return &second, nil }); err != nil {
		t.Fatal(err)
	}
	if err := l.Redirect(func() (io.Writer, error) { return nil, errors.New("permission denied") }); err == nil {
		t.Fatal("a failed open was not reported")
	}
	waitLogged(logged.Load() + 2000)
	close(stop)
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	count := func(w *writeRecorder) int64 {
		var n int64
		for _, p := range w.writes {
			for _, line := range bytes.Split(bytes.TrimSuffix(p, []byte("\n")), []byte("\n")) {
				var m map[string]any
				if err := json.Unmarshal(line, &m); err != nil {
					t.Fatalf("not a whole JSON line: %q", line)
				}
				n++
			}
		}
		return n
	}
	a, b := count(&first), count(&second)
	if a+b != logged.Load() || a < 2000 || b < 2000 {
		t.Errorf("%d lines before and %d after the redirect, want %d in all, 2000 or more on each side", a, b, logged.Load())
	}
	if err := l.Redirect(func() (io.Writer, error) { return &second, nil }); err == nil {
		t.Error("Redirect after Close did not fail")
	}
}
