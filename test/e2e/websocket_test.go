package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

func TestWebSocket(t *testing.T) {
	t.Parallel()
	env := startTLSEnv(t)
	cases := map[string]struct {
		url    string
		dialer *websocket.Dialer
	}{
		"http listener": {"ws://" + env.http + "/chat", &websocket.Dialer{HandshakeTimeout: 5 * time.Second}},
		"tls listener": {"wss://" + env.https + "/chat", &websocket.Dialer{HandshakeTimeout: 5 * time.Second,
			TLSClientConfig: &tls.Config{RootCAs: env.ca.Pool, ServerName: "tls.example.com"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			conn := dialWS(t, tc.dialer, tc.url, "ws.example.com")
			defer conn.Close()
			wsEchoes(t, conn, 200)
		})
	}
}

// dialWS opens a WebSocket through the gateway with the given Host and reads
// the backend's greeting.
func dialWS(t testing.TB, d *websocket.Dialer, url, host string) *websocket.Conn {
	t.Helper()
	conn, resp, err := d.Dial(url, http.Header{"Host": {host}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	if got := resp.Header.Get("X-Backend"); got != "ws" {
		t.Errorf("upgrade answered by %q, want the ws backend", got)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, msg, err := conn.ReadMessage()
	if err != nil || typ != websocket.TextMessage || !bytes.HasPrefix(msg, []byte("hello /chat "+host)) {
		t.Fatalf("greeting: %v %d %q", err, typ, msg)
	}
	return conn
}

// wsEchoes sends n text and binary messages (some large) and checks each
// comes back unchanged.
func wsEchoes(t testing.TB, conn *websocket.Conn, n int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for i := range n {
		typ := websocket.TextMessage
		msg := []byte(fmt.Sprintf("message %d", i))
		if i%2 == 1 {
			typ = websocket.BinaryMessage
			msg = bytes.Repeat([]byte{byte(i)}, 1+i*97%70000)
		}
		if err := conn.WriteMessage(typ, msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		gt, got, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if gt != typ || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: got type %d, %d bytes; want type %d, %d bytes", i, gt, len(got), typ, len(msg))
		}
	}
}

// A WebSocket upgrade goes upstream as the plugins left it: rewrite's path
// and upstream host apply to it as to any request.
func TestWebSocketRewritten(t *testing.T) {
	t.Parallel()
	listen := testenv.FreeAddr(t)
	ws := backends.StartWebSocket(t)
	startGateway(t, fmt.Sprintf(`
listeners:
  - name: web
    address: %s
    protocol: http
services:
  - name: ws
    endpoints: [%q]
routes:
  - name: socket
    hosts: [app.example.com]
    match: { path: { prefix: /socket/ } }
    backends: [{ service: ws }]
    plugins:
      - name: rewrite
        config: { prefix: {match: /socket/, replacement: /}, host: chat.internal }
`, listen, ws))
	d := &websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws://"+listen+"/socket/chat", http.Header{"Host": {"app.example.com"}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil || !bytes.HasPrefix(msg, []byte("hello /chat chat.internal")) {
		t.Fatalf("greeting %q (%v); want the upstream to see /chat on host chat.internal", msg, err)
	}
	wsEchoes(t, conn, 10)
}
