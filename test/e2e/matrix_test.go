package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"pylon.io/pylon/test/e2e/backends"
)

// matrixCase is one row of the protocol matrix: a behaviour every pair of
// client and upstream protocol must show alike, because one request
// pipeline serves them all.
type matrixCase struct {
	name string
	// skip says why the case does not apply to a pair ("" runs it); the
	// reason is printed with the skip, so the table shows what it leaves out.
	skip func(p pair) string
	run  func(t *testing.T, p pair)
}

// matrixConcurrency bounds the cases in flight. Most of them wait on the
// network (timeouts, streams), so far more than the two cores the table
// must finish on; -parallel defaults to GOMAXPROCS and would run two at a
// time, so the table runs its own bounded pool instead of t.Parallel.
const matrixConcurrency = 16

// TestProtocolMatrix runs every case over every client kind (HTTP/1.1,
// HTTP/1.1 over TLS, HTTP/2 over TLS, h2c, gRPC, WebSocket over HTTP/1.1
// and over HTTP/2) in front of every upstream kind (http1, http1 over TLS,
// http2, h2c), against one gateway, as CLIENT->UPSTREAM/CASE.
func TestProtocolMatrix(t *testing.T) {
	t.Parallel()
	m := startMatrix(t)
	var cases []matrixCase
	for _, group := range [][]matrixCase{headerCases(), retryCases(), limitCases(), streamCases(), pathCases()} {
		cases = append(cases, group...)
	}
	sem := make(chan struct{}, matrixConcurrency)
	var wg sync.WaitGroup
	for _, c := range m.clients {
		for _, u := range m.ups {
			for _, mc := range cases {
				p := pair{client: c, up: u, m: m}
				name := c.name + "->" + u.name + "/" + mc.name
				why := mc.skip(p)
				if c.family == famGRPC && !u.h2() {
					why = "gRPC needs an HTTP/2 upstream (trailers, and the framing of its messages)"
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					t.Run(name, func(t *testing.T) {
						if why != "" {
							t.Skip(why)
						}
						mc.run(t, p)
					})
				}()
			}
		}
	}
	wg.Wait()
}

// always runs a case for every pair.
func always(pair) string { return "" }

var matrixSeq atomic.Int64

// id returns a value unique to this run, fit for X-Request-Id and the
// journal's key.
func (p pair) id() string {
	return fmt.Sprintf("mx-%s-%s-%d", p.client.name, p.up.name, matrixSeq.Add(1))
}

func (p pair) send(t testing.TB, req request) observed {
	t.Helper()
	return p.client.send(t, req)
}

// upstreamSaw returns what the upstream received, failing unless the
// exchange succeeded and a matrix backend answered it.
func upstreamSaw(t testing.TB, o observed) *backends.Saw {
	t.Helper()
	if o.err != nil || o.status != http.StatusOK || o.saw == nil {
		t.Fatalf("want an upstream's answer, got %v", o)
	}
	return o.saw
}

// wantStatus fails unless the client got status. A gRPC client sees a
// status the gateway answered in the error's message, or as the gRPC code
// that HTTP status maps to (if the gateway answered in gRPC's own terms).
func (p pair) wantStatus(t testing.TB, o observed, want int) {
	t.Helper()
	if o.status == want {
		return
	}
	if p.client.family == famGRPC && o.status == 0 {
		for _, c := range grpcCodesFor(want) {
			if o.code == c {
				return
			}
		}
	}
	t.Fatalf("want status %d, got %v", want, o)
}

func grpcCodesFor(status int) []codes.Code {
	switch status {
	case http.StatusUnauthorized:
		return []codes.Code{codes.Unauthenticated}
	case http.StatusForbidden:
		return []codes.Code{codes.PermissionDenied}
	case http.StatusNotFound:
		return []codes.Code{codes.Unimplemented}
	case http.StatusRequestEntityTooLarge:
		return []codes.Code{codes.ResourceExhausted}
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		return []codes.Code{codes.Unavailable}
	case http.StatusGatewayTimeout:
		return []codes.Code{codes.Unavailable, codes.DeadlineExceeded}
	}
	return nil
}

// accessLines returns the access log lines of request id rid, raw.
func (m *matrix) accessLines(t testing.TB, rid string) []string {
	t.Helper()
	b, err := os.ReadFile(m.access)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.RequestID == rid {
			out = append(out, line)
		}
	}
	return out
}

// accessEntry waits for the access log line of request id rid (the log is
// flushed every 100 ms) and returns it decoded, with the raw line.
func (m *matrix) accessEntry(t testing.TB, rid string) (map[string]any, string) {
	t.Helper()
	var lines []string
	eventually(t, 3*time.Second, "access log line of "+rid, func() (bool, string) {
		lines = m.accessLines(t, rid)
		return len(lines) > 0, "no line"
	})
	var e map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &e)
	return e, strings.Join(lines, "\n")
}
