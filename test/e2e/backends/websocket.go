package backends

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
)

// WebSocketHandler upgrades every request and echoes each message back with
// its type. The first message it sends is a text message holding the request
// path and the Host header ("hello PATH HOST"), so a test can see where the
// upgrade landed.
func WebSocketHandler(name string) http.Handler {
	return &wsEcho{name: name, conns: map[*websocket.Conn]struct{}{}}
}

// wsEcho tracks its upgraded connections, because the HTTP server forgets
// hijacked connections and would leave them open after Close.
type wsEcho struct {
	name  string
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
}

var wsUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (e *wsEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := wsUpgrader.Upgrade(w, r, http.Header{"X-Backend": {e.name}})
	if err != nil {
		return // Upgrade already answered with an error status.
	}
	e.mu.Lock()
	e.conns[conn] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.conns, conn)
		e.mu.Unlock()
		conn.Close()
	}()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("hello "+r.URL.Path+" "+r.Host)); err != nil {
		return
	}
	for {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}

// closeAll closes every upgraded connection.
func (e *wsEcho) closeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.conns {
		c.Close()
	}
}

// StartWebSocket starts a WebSocket echo backend on 127.0.0.1 and returns
// its address. Connect to ws://ADDR/any/path.
func StartWebSocket(t testing.TB) string {
	t.Helper()
	return StartWebSocketNamed(t, "ws")
}

// StartWebSocketNamed is StartWebSocket with the name sent in X-Backend.
func StartWebSocketNamed(t testing.TB, name string) string {
	t.Helper()
	h := WebSocketHandler(name).(*wsEcho)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = listen(t)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		h.closeAll()
	})
	return srv.Listener.Addr().String()
}
