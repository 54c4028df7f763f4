package upstream

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// pki is a throwaway CA with one server and one client certificate.
type pki struct {
	caPEM                 []byte
	server                tls.Certificate
	clientCert, clientKey []byte
	pool                  *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pylon test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, DNSNames: []string{"backend.test"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	p := &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	sc, sk := issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		t.Fatal(err)
	}
	p.clientCert, p.clientKey = issue(3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

// mtlsServer requires a client certificate signed by the test CA and echoes
// the protocol it served and the client's certificate name.
func mtlsServer(t *testing.T, k *pki, h2 bool) *httptest.Server {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Client", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{k.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: k.pool}
	s.EnableHTTP2 = h2
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func TestHTTP1TLSClientCert(t *testing.T) {
	k := newPKI(t)
	srv := mtlsServer(t, k, false)
	addr := srv.Listener.Addr().String()
	r := testRegistry(t)
	p, err := r.Acquire(Config{Name: "tls", Endpoints: []EndpointConfig{{Address: addr}},
		TLS: &TLSConfig{CAPEM: k.caPEM, CertPEM: k.clientCert, KeyPEM: k.clientKey}})
	if err != nil {
		t.Fatal(err)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("https://" + addr + "/")
	if err := p.Pick(nil, nil).Client().DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Header.Peek("X-Client")); got != "leaf" || resp.StatusCode() != 200 {
		t.Errorf("status %d, client cert %q", resp.StatusCode(), got)
	}

	// Without the client certificate the server refuses.
	bad, err := r.Acquire(Config{Name: "tls-nocert", Endpoints: []EndpointConfig{{Address: addr}}, TLS: &TLSConfig{CAPEM: k.caPEM}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Pick(nil, nil).Client().DoTimeout(req, resp, 5*time.Second); err == nil {
		t.Error("request without client certificate succeeded")
	}

	// Raw Dial (WebSocket upgrades) speaks TLS with the client cert as well.
	conn, err := p.Pick(nil, nil).Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || hr.Header.Get("X-Client") != "leaf" {
		t.Errorf("raw dial: %v %v", err, hr)
	}
}

func TestHTTP2TLS(t *testing.T) {
	k := newPKI(t)
	srv := mtlsServer(t, k, true)
	addr := srv.Listener.Addr().String()
	p, err := testRegistry(t).Acquire(Config{Name: "h2", Protocol: HTTP2, Endpoints: []EndpointConfig{{Address: addr}},
		TLS:    &TLSConfig{ServerName: "backend.test", CAPEM: k.caPEM, CertPEM: k.clientCert, KeyPEM: k.clientKey},
		Active: &ActiveCheck{Interval: 20 * time.Millisecond, UnhealthyThreshold: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Protocol() != HTTP2 || p.H2Transport() == nil {
		t.Fatal("HTTP2 pool without an HTTP/2 transport")
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+p.Pick(nil, nil).Address()+"/", nil)
	resp, err := p.H2Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.Header.Get("X-Client") != "leaf" {
		t.Errorf("proto %s, client %q", resp.Proto, resp.Header.Get("X-Client"))
	}
	time.Sleep(100 * time.Millisecond) // active checks over HTTP/2 pass
	if !p.Endpoints()[0].Healthy() {
		t.Error("endpoint unhealthy though its HTTP/2 checks succeed")
	}
}

func TestHTTP2RefusesServerWithoutH2(t *testing.T) {
	k := newPKI(t)
	srv := mtlsServer(t, k, false) // HTTP/1.1 only
	p, err := testRegistry(t).Acquire(Config{Name: "h2", Protocol: HTTP2, Endpoints: []EndpointConfig{{Address: srv.Listener.Addr().String()}},
		TLS: &TLSConfig{CAPEM: k.caPEM, CertPEM: k.clientCert, KeyPEM: k.clientKey}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+p.Pick(nil, nil).Address()+"/", nil)
	if _, err := p.H2Transport().RoundTrip(req); err == nil {
		t.Error("HTTP/2 request succeeded against a server that did not negotiate h2")
	}
}

func TestH2C(t *testing.T) {
	h := h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
	}), &http2.Server{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	p, err := testRegistry(t).Acquire(Config{Name: "h2c", Protocol: H2C, Endpoints: []EndpointConfig{{Address: srv.Listener.Addr().String()}},
		Active: &ActiveCheck{Interval: 20 * time.Millisecond, UnhealthyThreshold: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.Pick(nil, nil).Address()+"/", nil)
		resp, err := p.H2Transport().RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Proto") != "HTTP/2.0" {
			t.Fatalf("server saw %q, want HTTP/2.0", resp.Header.Get("X-Proto"))
		}
	}
	time.Sleep(100 * time.Millisecond)
	if !p.Endpoints()[0].Healthy() {
		t.Error("endpoint unhealthy though its h2c checks succeed")
	}
}

func TestBadTLSConfigRejected(t *testing.T) {
	_, err := testRegistry(t).Acquire(Config{Name: "svc", Endpoints: []EndpointConfig{{Address: "127.0.0.1:1"}},
		TLS: &TLSConfig{CAPEM: []byte("junk"), CertPEM: []byte("junk")}})
	if err == nil {
		t.Fatal("junk TLS material accepted")
	}
	t.Log(err)
}

// SendTimeout: an endpoint that accepts a connection and never reads stalls
// the request write once the socket buffers are full; the write then fails
// after SendTimeout instead of waiting out the request's deadline.
func TestSendTimeoutBoundsAStalledWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn // accepted, never read
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	p, err := testRegistry(t).Acquire(Config{Name: "stall", SendTimeout: 300 * time.Millisecond,
		Endpoints: []EndpointConfig{{Address: ln.Addr().String()}}})
	if err != nil {
		t.Fatal(err)
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://stall/upload")
	req.Header.SetMethod("POST")
	req.SetBody(make([]byte, 64<<20)) // more than loopback socket buffers hold
	start := time.Now()
	err = p.Pick(nil, nil).Client().DoDeadline(req, resp, time.Now().Add(20*time.Second))
	took := time.Since(start)
	if err == nil {
		t.Fatal("a write to an endpoint that never reads succeeded")
	}
	if took > 10*time.Second {
		t.Fatalf("the stalled write failed after %v (%v); want about the 300ms send timeout, not the request deadline", took, err)
	}
	t.Logf("stalled write failed after %v: %v", took, err)
}
