package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The matrix's WebSocket clients share one framing (RFC 6455) and differ
// only in the handshake: an HTTP/1.1 Upgrade, or an HTTP/2 extended CONNECT
// (RFC 8441). Both handshakes are written here rather than taken from a
// library because no Go WebSocket library speaks RFC 8441, and because the
// HTTP/1.1 one must carry exactly the headers a hostile client would
// (Connection naming other headers, forged gateway headers). The backend
// end is gorilla/websocket, which checks this framing.

// WebSocket opcodes.
const (
	wsText   = 1
	wsBinary = 2
	wsClose  = 8
	wsPing   = 9
	wsPong   = 10
)

// wsConn is a client's WebSocket connection.
type wsConn struct {
	br  *bufio.Reader
	w   io.Writer
	end func() // closes the connection or the stream
	wmu sync.Mutex
}

func newWS(r io.Reader, w io.Writer, end func()) *wsConn {
	return &wsConn{br: bufio.NewReader(r), w: w, end: end}
}

// close sends a close frame with code, waits briefly for the peer's
// answering close frame (as a well-behaved client does, so the code
// reaches the backend) and ends the connection.
func (c *wsConn) close(code int) {
	_ = c.writeFrame(wsClose, closePayload(code))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			op, _, err := c.read()
			if err != nil || op == wsClose {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	c.end()
}

func closePayload(code int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(code))
}

// closeCode reads the status code of a close frame's payload (1005: none).
func closeCode(payload []byte) int {
	if len(payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(payload))
}

// writeFrame writes one final, masked frame.
func (c *wsConn) writeFrame(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	hdr := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n < 1<<16:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	frame := append(hdr, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_, err := c.w.Write(frame)
	return err
}

// readFrame reads one frame.
func (c *wsConn) readFrame() (fin bool, op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(c.br, h[:]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err = io.ReadFull(c.br, b[:]); err != nil {
			return
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err = io.ReadFull(c.br, b[:]); err != nil {
			return
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 16<<20 {
		return false, 0, nil, fmt.Errorf("websocket: frame of %d bytes", n)
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(c.br, mask[:]); err != nil {
			return
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(c.br, payload); err != nil {
		return
	}
	if masked {
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return fin, op, payload, nil
}

// read returns the next message, answering pings; a close frame is
// returned as a message of type wsClose.
func (c *wsConn) read() (op byte, msg []byte, err error) {
	for {
		fin, fop, payload, err := c.readFrame()
		if err != nil {
			return 0, nil, err
		}
		switch fop {
		case wsPing:
			_ = c.writeFrame(wsPong, payload)
			continue
		case wsPong:
			continue
		case wsClose:
			return wsClose, payload, nil
		case 0: // continuation
		default:
			op = fop
		}
		msg = append(msg, payload...)
		if fin {
			return op, msg, nil
		}
	}
}

func (c *wsConn) write(op byte, msg []byte) error { return c.writeFrame(op, msg) }

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialWS opens a WebSocket through the gateway. It returns the connection
// and an observed with status 200 when the handshake completed, or nil and
// what the gateway answered instead.
func (c *clientKind) dialWS(ctx context.Context, req request) (*wsConn, observed) {
	if c.h2 {
		return c.dialWS2(ctx, req)
	}
	conn, err := c.dialRaw(ctx)
	if err != nil {
		return nil, observed{err: err}
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	connection := "Upgrade"
	if v := req.headerValue("Connection"); v != "" {
		connection += ", " + v
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: %s\r\n", req.path, req.host, connection)
	fmt.Fprintf(&b, "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", key)
	for _, h := range req.header {
		if !strings.EqualFold(h[0], "Connection") {
			fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
		}
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		conn.Close()
		return nil, observed{err: err}
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, observed{err: fmt.Errorf("upgrade answer: %w", err)}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		o := readHTTP(resp)
		conn.Close()
		return nil, o
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, observed{err: fmt.Errorf("101 with Sec-WebSocket-Accept %q, not the key's", got)}
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	ws := newWS(br, conn, func() { conn.Close() })
	return ws, observed{status: http.StatusOK, header: resp.Header}
}

// dialWS2 opens a WebSocket as a stream of the client's HTTP/2 connection
// (RFC 8441): a CONNECT with :protocol websocket, answered 200.
func (c *clientKind) dialWS2(ctx context.Context, req request) (*wsConn, observed) {
	// The stream outlives the handshake: its own context ends it.
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	// Until the handshake is done, the caller's context bounds it too.
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	pr, pw := io.Pipe()
	hr := &http.Request{Method: http.MethodConnect, URL: &url.URL{Scheme: "https", Host: c.addr, Opaque: req.path},
		Host: req.host, Header: http.Header{":protocol": {"websocket"}, "Sec-Websocket-Version": {"13"}},
		Body: pr, ContentLength: -1}
	for _, h := range req.header {
		hr.Header[h[0]] = append(hr.Header[h[0]], h[1])
	}
	resp, err := c.h2t.RoundTrip(hr.WithContext(sctx))
	if err != nil {
		cancel()
		return nil, observed{err: fmt.Errorf("extended CONNECT: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		o := readHTTP(resp)
		cancel()
		return nil, o
	}
	ws := newWS(resp.Body, pw, func() {
		pw.Close()
		resp.Body.Close()
		cancel()
	})
	return ws, observed{status: http.StatusOK, header: resp.Header}
}

// isClosed reports whether err says the connection or stream ended.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
