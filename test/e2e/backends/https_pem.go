package backends

import (
	"encoding/pem"
	"net/http/httptest"
	"testing"
)

// StartHTTPSPEM is StartHTTPS for tests that hand the backend's CA to a
// process: it returns the self-signed certificate (valid for 127.0.0.1 and
// example.com) as PEM instead of a pool.
func StartHTTPSPEM(t testing.TB, name string) (addr, caPEM string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(EchoHandler(name))
	srv.Listener.Close()
	srv.Listener = listen(t)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return srv.Listener.Addr().String(), caPEM
}
