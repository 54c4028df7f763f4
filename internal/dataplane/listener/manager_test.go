package listener

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"pylon.io/pylon/internal/ir"
)

func testManager(t *testing.T) *Manager {
	t.Helper()
	h := Handlers{
		Fast: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("h1 " + string(ctx.Path())) },
		Std:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "h2 %s", r.URL.Path) }),
		Certificates: func(string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return nil, fmt.Errorf("no certificates in this test")
			}
		},
	}
	m := NewManager(h, slog.New(slog.DiscardHandler))
	m.DrainTimeout = 2 * time.Second
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return m
}

func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) string {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		t.Fatalf("write on kept-alive connection: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read on kept-alive connection: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(b)
}

// TestChangeKeepsSocketAndConnections: changing a listener's limits hands its
// socket to the new generation; an open keep-alive connection keeps working
// and new connections are never refused during the swap.
func TestChangeKeepsSocketAndConnections(t *testing.T) {
	m := testManager(t)
	cfg := &ir.Listener{Name: "web", Address: "127.0.0.1:0", Protocol: ir.ProtocolHTTP}
	if err := m.Apply(cfg, 1, ""); err != nil {
		t.Fatal(err)
	}
	addr := m.Addr("web").String()
	kept, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	br := bufio.NewReader(kept)
	if got := get(t, kept, br, "/a"); got != "h1 /a" {
		t.Fatalf("got %q", got)
	}

	var refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // dial continuously while the listener is replaced
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				refused.Add(1)
				continue
			}
			c.Close()
		}
	}()
	for i := 2; i < 50; i++ {
		changed := *cfg
		changed.Limits.IdleTimeout = ir.Duration(time.Duration(i) * time.Second)
		if err := m.Apply(&changed, uint64(i), ""); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if n := refused.Load(); n > 0 {
		t.Fatalf("%d connection attempts refused while the listener changed", n)
	}
	if got := get(t, kept, br, "/b"); got != "h1 /b" {
		t.Fatalf("kept-alive connection after changes: %q", got)
	}
}

func TestAddressInUseIsAnError(t *testing.T) {
	m := testManager(t)
	if err := m.Apply(&ir.Listener{Name: "a", Address: "127.0.0.1:0", Protocol: ir.ProtocolHTTP}, 1, ""); err != nil {
		t.Fatal(err)
	}
	taken := m.Addr("a").String()
	err := m.Apply(&ir.Listener{Name: "b", Address: taken, Protocol: ir.ProtocolHTTP}, 1, "")
	if err == nil || !strings.Contains(err.Error(), `listener "b": address: cannot listen`) {
		t.Fatalf("second listener on a taken address: %v", err)
	}
}

func TestH2CListenerServesBoth(t *testing.T) {
	m := testManager(t)
	if err := m.Apply(&ir.Listener{Name: "h2c", Address: "127.0.0.1:0", Protocol: ir.ProtocolH2C}, 1, ""); err != nil {
		t.Fatal(err)
	}
	addr := m.Addr("h2c").String()
	resp, err := http.Get("http://" + addr + "/one")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "h1 /one" {
		t.Fatalf("HTTP/1.1 on h2c listener: %q", b)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	c := &http.Client{Transport: &http.Transport{Protocols: &p}}
	resp, err = c.Get("http://" + addr + "/two")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "h2 /two" || resp.ProtoMajor != 2 {
		t.Fatalf("prior-knowledge HTTP/2 on h2c listener: %q %s", b, resp.Proto)
	}
}

func TestMaxConnections(t *testing.T) {
	m := testManager(t)
	cfg := &ir.Listener{Name: "web", Address: "127.0.0.1:0", Protocol: ir.ProtocolHTTP, Limits: ir.Limits{MaxConnections: 2}}
	if err := m.Apply(cfg, 1, ""); err != nil {
		t.Fatal(err)
	}
	addr := m.Addr("web").String()
	var open []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		get(t, c, br, "/")
		open = append(open, c)
	}
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_ = third.SetReadDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := bufio.NewReader(third).ReadByte(); err == nil {
		t.Fatal("a third connection was served over maxConnections: 2")
	}
	open[0].Close()
	time.Sleep(100 * time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := get(t, c, bufio.NewReader(c), "/again"); got != "h1 /again" {
		t.Fatalf("after a connection closed: %q", got)
	}
}
