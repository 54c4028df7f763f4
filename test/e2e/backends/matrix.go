package backends

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
)

// KeyHeader names the request a test wants to find again in a Journal: every
// request a matrix backend receives is filed under its value.
const KeyHeader = "X-Matrix-Key"

// Saw is what a matrix backend received: the request as the upstream saw it.
type Saw struct {
	Backend    string      `json:"backend"`
	Method     string      `json:"method"`
	URI        string      `json:"uri"` // the request target as sent, percent-encoding intact; the method for gRPC
	Host       string      `json:"host"`
	Proto      string      `json:"proto"`
	TLS        bool        `json:"tls"`
	Header     http.Header `json:"header"`
	BodyLength int64       `json:"bodyLength"`
}

// Journal records what the matrix backends of one test received, by
// KeyHeader. Backends that share a journal share its memory too: a request
// that failed once on one endpoint succeeds on the next.
type Journal struct {
	mu     sync.Mutex
	seen   map[string][]Saw
	closes map[string]int
}

// NewJournal returns an empty journal.
func NewJournal() *Journal {
	return &Journal{seen: map[string][]Saw{}, closes: map[string]int{}}
}

// add files s under key and returns how many requests the key has now.
func (j *Journal) add(key string, s Saw) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seen[key] = append(j.seen[key], s)
	return len(j.seen[key])
}

// Seen returns the requests filed under key, in the order they arrived.
func (j *Journal) Seen(key string) []Saw {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]Saw(nil), j.seen[key]...)
}

// CloseCode returns the close code a WebSocket client sent on the connection
// upgraded with key, once the backend has read it.
func (j *Journal) CloseCode(key string) (int, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.closes[key]
	return c, ok
}

func (j *Journal) closed(key string, code int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closes[key] = code
}

// MatrixHandler answers every request with the JSON of a Saw, except:
//
//	a WebSocket upgrade   greets with the Saw as a text message, then echoes
//	                      every message; "close:CODE" makes it close with CODE
//	a gRPC call           any method; see the gRPC handler in matrix_grpc.go
//	/once/MODE            misbehaves on the first request of its key, then
//	                      echoes: MODE reset (the connection or stream breaks
//	                      mid-response), slow (3 s before answering) or 503
//	/hold/MS/STATUS       waits MS milliseconds, then answers STATUS
//	/delay/MS             waits MS milliseconds (or until the client goes away)
//	/status/NNN           answers NNN
//	/sse?n=N&interval=MS  N server-sent events, flushed MS apart
//	/trailers             the Saw, then the trailer X-Matrix-Trailer: done
//
// Every answer carries X-Backend: name.
func MatrixHandler(name string, j *Journal) http.Handler {
	m := &matrix{name: name, j: j, conns: map[*websocket.Conn]struct{}{}}
	m.grpc = grpc.NewServer(grpc.UnknownServiceHandler(m.grpcCall))
	return m
}

type matrix struct {
	name string
	j    *Journal
	grpc *grpc.Server

	mu    sync.Mutex // guards conns
	conns map[*websocket.Conn]struct{}
}

func (m *matrix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		m.grpc.ServeHTTP(w, r)
		return
	}
	n, _ := io.Copy(io.Discard, r.Body)
	saw := Saw{Backend: m.name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto,
		TLS: r.TLS != nil, Header: r.Header.Clone(), BodyLength: n}
	key := r.Header.Get(KeyHeader)
	first := m.j.add(key, saw) == 1
	w.Header().Set("X-Backend", m.name)
	if websocket.IsWebSocketUpgrade(r) {
		m.websocket(w, r, saw, key)
		return
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case seg[0] == "once" && len(seg) == 2 && first:
		m.misbehave(w, r, seg[1], saw)
		return
	case seg[0] == "hold" && len(seg) == 3:
		ms, _ := strconv.Atoi(seg[1])
		status, _ := strconv.Atoi(seg[2])
		if !sleep(r, time.Duration(ms)*time.Millisecond) {
			return
		}
		writeSaw(w, status, saw)
		return
	case seg[0] == "delay" && len(seg) == 2:
		ms, _ := strconv.Atoi(seg[1])
		if !sleep(r, time.Duration(ms)*time.Millisecond) {
			return
		}
	case seg[0] == "status" && len(seg) == 2:
		status, err := strconv.Atoi(seg[1])
		if err != nil || status < 200 || status > 599 {
			status = http.StatusBadRequest
		}
		writeSaw(w, status, saw)
		return
	case seg[0] == "sse":
		m.events(w, r)
		return
	case seg[0] == "trailers":
		w.Header().Set("Trailer", "X-Matrix-Trailer")
		writeSaw(w, http.StatusOK, saw)
		w.Header().Set("X-Matrix-Trailer", "done")
		return
	}
	writeSaw(w, http.StatusOK, saw)
}

// sleep waits d or until the client leaves, and reports whether d passed.
func sleep(r *http.Request, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-r.Context().Done():
		return false
	}
}

func writeSaw(w http.ResponseWriter, status int, s Saw) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(s)
}

// misbehave fails one request the way mode says.
func (m *matrix) misbehave(w http.ResponseWriter, r *http.Request, mode string, s Saw) {
	switch mode {
	case "reset":
		if r.ProtoMajor == 2 {
			// The stream is reset before any of the response is sent.
			panic(http.ErrAbortHandler)
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		// A status line, a promise of 100 bytes, 7 of them, and the end.
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
		_ = conn.Close()
	case "slow":
		if sleep(r, 3*time.Second) {
			writeSaw(w, http.StatusOK, s)
		}
	default:
		status, err := strconv.Atoi(mode)
		if err != nil {
			status = http.StatusInternalServerError
		}
		writeSaw(w, status, s)
	}
}

// events writes n server-sent events, flushing each, interval apart.
func (m *matrix) events(w http.ResponseWriter, r *http.Request) {
	n := queryInt(r, "n", 4)
	interval := time.Duration(queryInt(r, "interval", 100)) * time.Millisecond
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := range n {
		if i > 0 && !sleep(r, interval) {
			return
		}
		fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		if rc.Flush() != nil {
			return
		}
	}
}

// websocket upgrades, greets with what the upgrade request carried, and
// echoes until either side closes. The client's close code is filed under
// key.
func (m *matrix) websocket(w http.ResponseWriter, r *http.Request, s Saw, key string) {
	conn, err := wsUpgrader.Upgrade(w, r, http.Header{"X-Backend": {m.name}})
	if err != nil {
		return // Upgrade already answered with an error status.
	}
	m.mu.Lock()
	m.conns[conn] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.conns, conn)
		m.mu.Unlock()
		conn.Close()
	}()
	greeting, _ := json.Marshal(s)
	if err := conn.WriteMessage(websocket.TextMessage, greeting); err != nil {
		return
	}
	for {
		typ, msg, err := conn.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			m.j.closed(key, ce.Code)
			return
		}
		if err != nil {
			return
		}
		if code, ok := strings.CutPrefix(string(msg), "close:"); ok && typ == websocket.TextMessage {
			n, _ := strconv.Atoi(code)
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(n, "bye"), time.Now().Add(time.Second))
			// Wait for the client's answering close frame (or its leaving).
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, _ = conn.ReadMessage()
			return
		}
		if err := conn.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}

// closeAll closes every upgraded connection, which the HTTP server forgets.
func (m *matrix) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.conns {
		c.Close()
	}
}

// StartMatrix starts a matrix backend on 127.0.0.1 and returns its address.
// Without TLS it speaks HTTP/1.1 and h2c (prior knowledge); with TLS it
// offers h2 and http/1.1 by ALPN and also returns its self-signed
// certificate (valid for 127.0.0.1 and example.com) as PEM.
func StartMatrix(t testing.TB, name string, j *Journal, useTLS bool) (addr, caPEM string) {
	t.Helper()
	h := MatrixHandler(name, j).(*matrix)
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewUnstartedServer(h)
	} else {
		srv = httptest.NewUnstartedServer(h2c.NewHandler(h, &http2.Server{}))
	}
	srv.Listener.Close()
	srv.Listener = listen(t)
	if useTLS {
		srv.EnableHTTP2 = true
		srv.StartTLS()
		caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		h.closeAll()
		h.grpc.Stop()
	})
	return srv.Listener.Addr().String(), caPEM
}
