package backends

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// Echo is the JSON body the HTTP echo backend answers with. Tests decode it
// to see what the backend received through the proxy.
type Echo struct {
	Backend    string              `json:"backend"` // the name given to StartHTTP
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RawQuery   string              `json:"rawQuery"`
	Query      map[string][]string `json:"query"`
	Host       string              `json:"host"`
	Headers    map[string][]string `json:"headers"`
	BodyLength int64               `json:"bodyLength"`
	Proto      string              `json:"proto"` // "HTTP/1.1" or "HTTP/2.0"
	TLS        bool                `json:"tls"`
	RemoteAddr string              `json:"remoteAddr"`
}

// maxBytes bounds /bytes/N so a typo cannot exhaust memory.
const maxBytes = 64 << 20

// EchoHandler answers every request with an Echo, except for these paths:
//
//	/status/NNN   answers with status NNN (and the Echo as body)
//	/delay/MS     waits MS milliseconds (or until the client goes away), then echoes
//	/stream       writes 10 chunks ("chunk N\n"), flushing each, 10 ms apart;
//	              /stream?n=N&interval=MS changes both
//	/bytes/N      answers with N bytes of 'x'
//
// Every answer carries the header X-Backend: name.
func EchoHandler(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 100 || code > 999 {
			http.Error(w, "bad status code", http.StatusBadRequest)
			return
		}
		writeEcho(w, r, name, code)
	})
	mux.HandleFunc("/delay/{ms}", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.PathValue("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "bad delay", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		writeEcho(w, r, name, http.StatusOK)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		n := queryInt(r, "n", 10)
		interval := time.Duration(queryInt(r, "interval", 10)) * time.Millisecond
		w.Header().Set("X-Backend", name)
		w.Header().Set("Content-Type", "text/plain")
		rc := http.NewResponseController(w)
		for i := range n {
			if i > 0 {
				select {
				case <-time.After(interval):
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "chunk %d\n", i)
			if err := rc.Flush(); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/bytes/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < 0 || n > maxBytes {
			http.Error(w, "bad byte count", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Backend", name)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := []byte(strings.Repeat("x", 32<<10))
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeEcho(w, r, name, http.StatusOK)
	})
	return mux
}

func queryInt(r *http.Request, key string, def int) int {
	if v, err := strconv.Atoi(r.URL.Query().Get(key)); err == nil && v >= 0 {
		return v
	}
	return def
}

func writeEcho(w http.ResponseWriter, r *http.Request, name string, code int) {
	n, _ := io.Copy(io.Discard, r.Body)
	e := Echo{
		Backend:    name,
		Method:     r.Method,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Query:      r.URL.Query(),
		Host:       r.Host,
		Headers:    r.Header,
		BodyLength: n,
		Proto:      r.Proto,
		TLS:        r.TLS != nil,
		RemoteAddr: r.RemoteAddr,
	}
	w.Header().Set("X-Backend", name)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if code == http.StatusNoContent || code == http.StatusNotModified || code < 200 {
		return
	}
	_ = json.NewEncoder(w).Encode(e)
}

// StartHTTP starts the echo backend on 127.0.0.1 speaking HTTP/1.1 and h2c
// (prior knowledge and Upgrade), and returns its address.
func StartHTTP(t testing.TB, name string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h2c.NewHandler(EchoHandler(name), &http2.Server{}))
	srv.Listener.Close()
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// StartHTTPS starts the echo backend on 127.0.0.1 with TLS, offering h2 and
// http/1.1 through ALPN. It returns the address and a pool holding the
// self-signed certificate, which is valid for 127.0.0.1 and example.com.
func StartHTTPS(t testing.TB, name string) (addr string, roots *x509.CertPool) {
	t.Helper()
	srv := httptest.NewUnstartedServer(EchoHandler(name))
	srv.Listener.Close()
	srv.Listener = listen(t)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots = x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv.Listener.Addr().String(), roots
}

// TLSClientConfig returns a client TLS config that trusts roots.
func TLSClientConfig(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}}
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("backends: listen: %v", err)
	}
	return l
}
