package backends

import (
	"testing"

	"github.com/gorilla/websocket"
)

func TestWebSocketEcho(t *testing.T) {
	addr := StartWebSocket(t)
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if resp.Header.Get("X-Backend") != "ws" {
		t.Errorf("X-Backend = %q", resp.Header.Get("X-Backend"))
	}
	_, hello, err := conn.ReadMessage()
	if err != nil || string(hello) != "hello /chat "+addr {
		t.Fatalf("hello = %q, %v", hello, err)
	}
	for _, m := range []struct {
		typ  int
		data string
	}{{websocket.TextMessage, "ping"}, {websocket.BinaryMessage, "\x00\x01\x02"}} {
		if err := conn.WriteMessage(m.typ, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := conn.ReadMessage()
		if err != nil || typ != m.typ || string(got) != m.data {
			t.Fatalf("echo of %q: type %d, %q, %v", m.data, typ, got, err)
		}
	}
}
