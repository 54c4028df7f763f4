package listener

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"pylon.io/pylon/internal/ir"
)

// h2Server is a listener of one protocol (h2c or https) whose HTTP/2
// handler answers "h2 <path> x-check=<value>" and whose refusals are kept.
type h2Server struct {
	addr string
	tls  bool
	mu   sync.Mutex
	refs []Refusal
}

func (s *h2Server) refusals() []Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Refusal(nil), s.refs...)
}

func startH2Server(t *testing.T, proto string, lim ir.Limits) *h2Server {
	t.Helper()
	s := &h2Server{tls: proto == ir.ProtocolHTTPS}
	cert := selfSigned(t)
	h := Handlers{
		Fast: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("h1 " + string(ctx.Path())) },
		Std: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// As the proxy does, a body cut off by the listener's limit
			// is answered 413.
			var over *http.MaxBytesError
			if _, err := io.Copy(io.Discard, r.Body); errors.As(err, &over) {
				http.Error(w, "413 body over the limit", http.StatusRequestEntityTooLarge)
				return
			}
			fmt.Fprintf(w, "h2 %s x-check=%s", r.URL.Path, r.Header.Get("X-Check"))
		}),
		Certificates: func(string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
		},
		Refused: func(r Refusal) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.refs = append(s.refs, r)
		},
	}
	m := NewManager(h, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	if err := m.Apply(&ir.Listener{Name: "l", Address: "127.0.0.1:0", Protocol: proto, Limits: lim}, 1, ""); err != nil {
		t.Fatal(err)
	}
	s.addr = m.Addr("l").String()
	return s
}

func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "h2.test"},
		DNSNames: []string{"h2.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// rawH2 is an HTTP/2 client made of x/net's Framer and HPACK encoder, for
// sending what real clients would not.
type rawH2 struct {
	t   *testing.T
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	blk bytes.Buffer
}

// dialH2 connects, sends the preface and settings, and reads the server's
// settings; the server's ACK of ours is left to later reads.
func (s *h2Server) dial(t *testing.T, settings ...http2.Setting) *rawH2 {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if s.tls {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "h2.test", NextProtos: []string{"h2"}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("ALPN: %q, want h2", p)
		}
		c = tc
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	h := &rawH2{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.blk)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	for {
		f := h.read()
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			if err := h.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			return h
		}
	}
}

func (h *rawH2) read() http2.Frame {
	h.t.Helper()
	f, err := h.fr.ReadFrame()
	if err != nil {
		h.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// block encodes name/value pairs with the connection's HPACK encoder,
// which indexes them, so later blocks refer to this one's fields.
func (h *rawH2) block(fields ...string) []byte {
	h.blk.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = h.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(h.blk.Bytes())
}

func (h *rawH2) headers(p http2.HeadersFrameParam) {
	h.t.Helper()
	if err := h.fr.WriteHeaders(p); err != nil {
		h.t.Fatal(err)
	}
}

// request is the fields of a GET for path, then extra.
func request(path string, extra ...string) []string {
	return append([]string{":method", "GET", ":scheme", "https", ":authority", "h2.test", ":path", path}, extra...)
}

// resetAfter reports whether the server resets stream id before it
// answers a PING sent now: a reset that follows a complete response.
func (h *rawH2) resetAfter(id uint32) bool {
	h.t.Helper()
	if err := h.fr.WritePing(false, [8]byte{1}); err != nil {
		h.t.Fatal(err)
	}
	for {
		switch f := h.read().(type) {
		case *http2.PingFrame:
			if f.IsAck() {
				return false
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return true
			}
		}
	}
}

// outcome is how the server ended one stream.
type outcome struct {
	status, body string
	rst          http2.ErrCode // set when the stream was reset
	reset        bool
}

func (o outcome) String() string {
	if o.reset {
		return fmt.Sprintf("RST_STREAM %v", o.rst)
	}
	return fmt.Sprintf("%s %q", o.status, o.body)
}

// await reads until stream id ends (END_STREAM or RST_STREAM); a GOAWAY
// or a closed connection fails the test.
func (h *rawH2) await(id uint32) outcome {
	h.t.Helper()
	var o outcome
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.t.Fatalf("stream %d: connection ended: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			h.t.Fatalf("stream %d: GOAWAY %v", id, f.ErrCode)
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				o.status = f.PseudoValue("status")
				if f.StreamEnded() {
					return o
				}
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				o.body += string(f.Data())
				if f.StreamEnded() {
					return o
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				o.rst, o.reset = f.ErrCode, true
				return o
			}
		}
	}
}
