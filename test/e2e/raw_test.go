package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// rawResult is what came back on a raw TCP connection after one request.
type rawResult struct {
	resp   *http.Response // nil if the connection closed without a response
	body   string
	closed bool // the server closed the connection after the response
}

// rawRequest writes raw bytes on a new TCP connection and reads one response.
func rawRequest(t testing.TB, addr, raw string) rawResult {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return rawResult{closed: true}
		}
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	res := rawResult{resp: resp, body: string(b)}
	// After the response, a closed connection reads EOF at once; an open one
	// times out.
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.ReadByte(); err != nil {
		var ne net.Error
		res.closed = !(errors.As(err, &ne) && ne.Timeout())
	}
	return res
}

func (r rawResult) status() int {
	if r.resp == nil {
		return 0
	}
	return r.resp.StatusCode
}
