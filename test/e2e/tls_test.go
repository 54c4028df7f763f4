package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
)

func TestTLSCertificateSelection(t *testing.T) {
	t.Parallel()
	env := startTLSEnv(t)

	handshake := func(addr, sni string) (*tls.ConnectionState, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{
			ServerName: sni, RootCAs: env.ca.Pool, NextProtos: []string{"h2", "http/1.1"},
			// Verification is done below, against the name we expect.
			InsecureSkipVerify: true,
		})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		st := conn.ConnectionState()
		return &st, nil
	}
	cases := []struct {
		listener, sni, wantCert string // wantCert "" = the handshake must fail
	}{
		{env.https, "tls.example.com", "tls.example.com"},
		{env.https, "TLS.Example.COM", "tls.example.com"},
		{env.https, "foo.wild.example.com", "*.wild.example.com"},
		{env.https, "unknown.example.org", "default.example.com"},
		{env.https, "", "default.example.com"},
		{env.strict, "tls.example.com", "tls.example.com"},
		{env.strict, "bar.wild.example.com", "*.wild.example.com"},
		{env.strict, "unknown.example.org", ""},
	}
	for _, tc := range cases {
		name := "tls"
		if tc.listener == env.strict {
			name = "strict"
		}
		t.Run(name+"/"+tc.sni, func(t *testing.T) {
			st, err := handshake(tc.listener, tc.sni)
			if tc.wantCert == "" {
				if err == nil {
					t.Fatalf("handshake succeeded with certificate %v; want failure (no default certificate on this listener)", st.PeerCertificates[0].DNSNames)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			leaf := st.PeerCertificates[0]
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != tc.wantCert {
				t.Fatalf("served certificate for %v, want %s", leaf.DNSNames, tc.wantCert)
			}
			if _, err := leaf.Verify(x509VerifyOpts(env, st)); err != nil {
				t.Fatalf("certificate does not verify against the test CA: %v", err)
			}
			if st.NegotiatedProtocol != "h2" {
				t.Fatalf("ALPN negotiated %q, want h2", st.NegotiatedProtocol)
			}
		})
	}
}

func TestHTTP2OverTLS(t *testing.T) {
	t.Parallel()
	env := startTLSEnv(t)
	url := "https://tls.example.com:" + port(env.https)

	t.Run("go client h2", func(t *testing.T) {
		r, err := env.httpsClient(env.https, false).Get(url + "/h2?x=1")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if r.Proto != "HTTP/2.0" || r.StatusCode != 200 {
			t.Fatalf("got %s %d, want HTTP/2.0 200", r.Proto, r.StatusCode)
		}
		e := readEcho(t, r)
		if e.Backend != "echo" || e.Path != "/h2" || e.RawQuery != "x=1" || e.Proto != "HTTP/1.1" {
			t.Fatalf("backend %s saw %s %s?%s", e.Backend, e.Proto, e.Path, e.RawQuery)
		}
		if got := e.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "https" {
			t.Errorf("X-Forwarded-Proto = %q, want [https]", got)
		}
		if got := e.Headers["X-Request-Id"]; len(got) != 1 || !requestIDPattern.MatchString(got[0]) {
			t.Errorf("X-Request-Id = %q", got)
		}
	})
	t.Run("go client http/1.1 over tls", func(t *testing.T) {
		r, err := env.httpsClient(env.https, true).Get(url + "/h1")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if r.Proto != "HTTP/1.1" || r.StatusCode != 200 {
			t.Fatalf("got %s %d, want HTTP/1.1 200", r.Proto, r.StatusCode)
		}
		if e := readEcho(t, r); e.Headers["X-Forwarded-Proto"][0] != "https" {
			t.Errorf("X-Forwarded-Proto = %q, want https", e.Headers["X-Forwarded-Proto"])
		}
	})
	t.Run("curl --http2", func(t *testing.T) {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		writeFile(t, ca, env.ca.PEM)
		r := curl(t, "--http2", "--cacert", ca, "--resolve", "tls.example.com:"+port(env.https)+":127.0.0.1", url+"/curl")
		if r.Status != 200 || r.echo(t).Backend != "echo" {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		r = curl(t, "--http2", "-o", "/dev/null", "-w", "%{http_version}", "--cacert", ca,
			"--resolve", "tls.example.com:"+port(env.https)+":127.0.0.1", url+"/curl")
		if !strings.HasSuffix(r.Body, "2") {
			t.Fatalf("curl used HTTP version %q, want 2", r.Body)
		}
	})
	t.Run("upstream http2 over tls", func(t *testing.T) {
		for _, h1 := range []bool{false, true} {
			req := "https://h2up.example.com:" + port(env.https) + "/up"
			r, err := clientForHost(env, h1, "h2up.example.com").Get(req)
			if err != nil {
				t.Fatal(err)
			}
			e := readEcho(t, r)
			r.Body.Close()
			if r.StatusCode != 200 || e.Backend != "echo-h2" || e.Proto != "HTTP/2.0" || !e.TLS {
				t.Fatalf("client h1=%v: %d, backend %s saw %s tls=%v", h1, r.StatusCode, e.Backend, e.Proto, e.TLS)
			}
		}
	})
	t.Run("upstream h2c", func(t *testing.T) {
		r, err := clientForHost(env, false, "h2cup.example.com").Get("https://h2cup.example.com:" + port(env.https) + "/up")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		e := readEcho(t, r)
		if r.StatusCode != 200 || e.Backend != "echo-h2c" || e.Proto != "HTTP/2.0" || e.TLS {
			t.Fatalf("%d, backend %s saw %s tls=%v", r.StatusCode, e.Backend, e.Proto, e.TLS)
		}
	})
}

func TestH2CListener(t *testing.T) {
	t.Parallel()
	env := startTLSEnv(t)
	base := "http://plain.example.com:" + port(env.h2c)

	t.Run("prior knowledge", func(t *testing.T) {
		r, err := h2cClient(env.h2c).Get(base + "/pk")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if r.Proto != "HTTP/2.0" || r.StatusCode != 200 {
			t.Fatalf("got %s %d", r.Proto, r.StatusCode)
		}
		if e := readEcho(t, r); e.Path != "/pk" || e.Host != "plain.example.com:"+port(env.h2c) {
			t.Fatalf("backend saw %s Host %s", e.Path, e.Host)
		}
	})
	t.Run("http/1.1 on the same port", func(t *testing.T) {
		r := do(t, newClient(), "GET", "http://"+env.h2c+"/h1", "plain.example.com")
		if r.Status != 200 || r.echo(t).Path != "/h1" {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("curl --http2-prior-knowledge", func(t *testing.T) {
		r := curl(t, "--http2-prior-knowledge", "-H", "Host: plain.example.com", "http://"+env.h2c+"/curl")
		if r.Status != 200 || r.echo(t).Path != "/curl" {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	})
	t.Run("upstream h2c and http2", func(t *testing.T) {
		for host, want := range map[string]string{"h2cup.example.com": "echo-h2c", "h2up.example.com": "echo-h2"} {
			r, err := h2cClient(env.h2c).Get("http://" + host + "/up")
			if err != nil {
				t.Fatal(err)
			}
			e := readEcho(t, r)
			r.Body.Close()
			if e.Backend != want || e.Proto != "HTTP/2.0" {
				t.Fatalf("%s: backend %s saw %s", host, e.Backend, e.Proto)
			}
			if got := e.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "http" {
				t.Errorf("%s: X-Forwarded-Proto = %q, want [http]", host, got)
			}
		}
	})
}

func x509VerifyOpts(env *tlsEnv, _ *tls.ConnectionState) x509.VerifyOptions {
	return x509.VerifyOptions{Roots: env.ca.Pool}
}

// clientForHost is httpsClient for a request whose Host has no certificate of
// its own: the TLS name is tls.example.com, the HTTP Host is the URL's.
func clientForHost(env *tlsEnv, h1 bool, _ string) *http.Client {
	c := env.httpsClient(env.https, h1)
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "tls.example.com"
	return c
}

func readEcho(t testing.TB, r *http.Response) backends.Echo {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading response %d: %v", r.StatusCode, err)
	}
	var e backends.Echo
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("response %s %d is not an echo: %v\n%v\n%s", r.Proto, r.StatusCode, err, r.Header, b)
	}
	return e
}
