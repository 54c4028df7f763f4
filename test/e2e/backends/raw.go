package backends

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// Raw is a lenient HTTP/1.1 backend that keeps every byte it receives. It
// parses nothing: whatever reaches it, well-formed or not, is on record,
// which a server that validates requests (net/http) would refuse unseen.
// Tests use it to show that a malformed request never reached the upstream.
type Raw struct {
	Addr string

	mu   sync.Mutex
	seen bytes.Buffer
}

// StartRaw starts a Raw backend on 127.0.0.1. It answers each connection
// once, with "200 ok" and Connection: close, when it has read an empty line
// (CRLF or bare LF) or the client paused for 200 ms; then it closes.
func StartRaw(t testing.TB) *Raw {
	t.Helper()
	ln := listen(t)
	r := &Raw{Addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.serve(c)
			}()
		}
	}()
	return r
}

func (r *Raw) serve(c net.Conn) {
	defer c.Close()
	var got []byte
	buf := make([]byte, 32<<10)
	for !bytes.Contains(got, []byte("\r\n\r\n")) && !bytes.Contains(got, []byte("\n\n")) {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		r.record(buf[:n])
		if err != nil {
			break
		}
	}
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"))
	// A body or a second request sent after the head is on record too.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		n, err := c.Read(buf)
		r.record(buf[:n])
		if err != nil {
			return
		}
	}
}

func (r *Raw) record(b []byte) {
	r.mu.Lock()
	r.seen.Write(b)
	r.mu.Unlock()
}

// Seen returns a copy of every byte received so far, on all connections.
func (r *Raw) Seen() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}
