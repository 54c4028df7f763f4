package listener

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"pylon.io/pylon/internal/ir"
)

var h2Protocols = []string{ir.ProtocolH2C, ir.ProtocolHTTPS}

// TestH2MalformedRequestIsStreamError: a request whose header block has a
// connection-specific field or a TE other than "trailers" is reset with
// PROTOCOL_ERROR (RFC 9113 8.2.2), however the block is framed, and the
// connection goes on: the next request, whose block refers to fields the
// malformed block put in the HPACK table, is answered with them.
func TestH2MalformedRequestIsStreamError(t *testing.T) {
	fields := []struct {
		name      string
		extra     []string
		malformed bool
	}{
		{"connection", []string{"connection", "keep-alive"}, true},
		{"keep-alive", []string{"keep-alive", "timeout=5"}, true},
		{"proxy-connection", []string{"proxy-connection", "keep-alive"}, true},
		{"transfer-encoding", []string{"transfer-encoding", "chunked"}, true},
		{"upgrade", []string{"upgrade", "websocket"}, true},
		{"te with deflate", []string{"te", "trailers, deflate"}, true},
		{"te gzip", []string{"te", "gzip"}, true},
		{"te trailers", []string{"te", "trailers"}, false},
		{"plain", nil, false},
	}
	shapes := []struct {
		name string
		send func(h *rawH2, id uint32, block []byte)
	}{
		{"one frame", func(h *rawH2, id uint32, block []byte) {
			h.headers(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
		}},
		{"continuation", func(h *rawH2, id uint32, block []byte) {
			half := len(block) / 2
			h.headers(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:half], EndStream: true})
			if err := h.fr.WriteContinuation(id, true, block[half:]); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"padded with priority", func(h *rawH2, id uint32, block []byte) {
			h.headers(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true,
				PadLength: 7, Priority: http2.PriorityParam{Weight: 10}})
		}},
	}
	for _, proto := range h2Protocols {
		srv := startH2Server(t, proto, ir.Limits{})
		for _, f := range fields {
			for _, shape := range shapes {
				t.Run(string(proto)+"/"+f.name+"/"+shape.name, func(t *testing.T) {
					h := srv.dial(t)
					shape.send(h, 1, h.block(request("/first", append([]string{"x-check", "in-table"}, f.extra...)...)...))
					got := h.await(1)
					if f.malformed && (!got.reset || got.rst != http2.ErrCodeProtocol) {
						t.Fatalf("malformed request: %v, want RST_STREAM PROTOCOL_ERROR", got)
					}
					if !f.malformed && got.status != "200" {
						t.Fatalf("valid request: %v, want 200", got)
					}
					shape.send(h, 3, h.block(request("/next", "x-check", "in-table")...))
					if got := h.await(3); got.status != "200" || got.body != "h2 /next x-check=in-table" {
						t.Fatalf("next request on the connection: %v", got)
					}
				})
			}
		}
	}
}

// TestH2MalformedRequestWithBody: the body frames of a reset malformed
// request are discarded without harm to the connection.
func TestH2MalformedRequestWithBody(t *testing.T) {
	for _, proto := range h2Protocols {
		t.Run(string(proto), func(t *testing.T) {
			h := startH2Server(t, proto, ir.Limits{}).dial(t)
			h.headers(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
				BlockFragment: h.block(request("/bad", "connection", "close", "content-length", "10")...)})
			for i := range 2 {
				if err := h.fr.WriteData(1, i == 1, []byte("12345")); err != nil {
					t.Fatal(err)
				}
			}
			if got := h.await(1); !got.reset || got.rst != http2.ErrCodeProtocol {
				t.Fatalf("malformed request with a body: %v, want RST_STREAM PROTOCOL_ERROR", got)
			}
			h.headers(http2.HeadersFrameParam{StreamID: 3, EndHeaders: true, EndStream: true, BlockFragment: h.block(request("/next")...)})
			if got := h.await(3); got.status != "200" {
				t.Fatalf("next request on the connection: %v", got)
			}
		})
	}
}

// TestH2RepeatedSettings: parameters in one SETTINGS frame are processed in
// order (RFC 9113 6.5.3): a repeated one ends at its last value, and an
// invalid value among them is the connection error it would be alone.
func TestH2RepeatedSettings(t *testing.T) {
	iws := func(v uint32) http2.Setting { return http2.Setting{ID: http2.SettingInitialWindowSize, Val: v} }
	cases := []struct {
		name     string
		settings []http2.Setting
		goAway   http2.ErrCode // 0: the connection serves, DATA frames sized by the window
	}{
		{"initial window 100 then 1", []http2.Setting{iws(100), iws(1)}, 0},
		{"initial window 1, push off, then 5", []http2.Setting{iws(1), {ID: http2.SettingEnablePush, Val: 0}, iws(5)}, 0},
		{"invalid window first", []http2.Setting{iws(1 << 31), iws(1)}, http2.ErrCodeFlowControl},
		{"invalid window last", []http2.Setting{iws(1), iws(1 << 31)}, http2.ErrCodeFlowControl},
		{"invalid push value repeated", []http2.Setting{{ID: http2.SettingEnablePush, Val: 2}, {ID: http2.SettingEnablePush, Val: 0}}, http2.ErrCodeProtocol},
	}
	for _, proto := range h2Protocols {
		srv := startH2Server(t, proto, ir.Limits{})
		for _, c := range cases {
			t.Run(string(proto)+"/"+c.name, func(t *testing.T) {
				h := srv.dial(t, c.settings...)
				h.headers(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, EndStream: true, BlockFragment: h.block(request("/w")...)})
				want := c.settings[len(c.settings)-1].Val
				for {
					switch f := h.read().(type) {
					case *http2.GoAwayFrame:
						if f.ErrCode != c.goAway {
							t.Fatalf("GOAWAY %v, want %v", f.ErrCode, c.goAway)
						}
						return
					case *http2.DataFrame:
						if c.goAway != 0 {
							t.Fatalf("DATA frame, want GOAWAY %v", c.goAway)
						}
						if uint32(len(f.Data())) != want {
							t.Fatalf("first DATA frame of %d bytes, want %d (the last initial window)", len(f.Data()), want)
						}
						return
					}
				}
			})
		}
	}
}

// TestH2BodyOverLimit: a body over maxBodyBytes is answered 413 at once,
// whether declared (and reported as a refusal) or cut off as it streams. A
// client that goes on sending the body then sees the stream end cleanly,
// without RST_STREAM; one that stops sees it end soon after.
func TestH2BodyOverLimit(t *testing.T) {
	bodies := []struct {
		name     string
		declared bool
	}{{"declared", true}, {"streamed", false}}
	for _, proto := range h2Protocols {
		srv := startH2Server(t, proto, ir.Limits{MaxBodyBytes: 10})
		for _, b := range bodies {
			// post sends the headers and 50 bytes of a 100-byte body and
			// reads the 413.
			post := func(h *rawH2) {
				fields := []string{":method", "POST", ":scheme", "https", ":authority", "h2.test", ":path", "/up"}
				if b.declared {
					fields = append(fields, "content-length", "100")
				}
				h.headers(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: h.block(fields...)})
				if err := h.fr.WriteData(1, false, []byte(strings.Repeat("x", 50))); err != nil {
					t.Fatal(err)
				}
				for {
					if f, ok := h.read().(*http2.MetaHeadersFrame); ok && f.StreamID == 1 {
						if s := f.PseudoValue("status"); s != "413" {
							t.Fatalf("status %s, want 413", s)
						}
						return
					}
				}
			}
			t.Run(string(proto)+"/"+b.name+"/sends it all", func(t *testing.T) {
				before := len(srv.refusals())
				h := srv.dial(t)
				post(h)
				if err := h.fr.WriteData(1, true, []byte(strings.Repeat("x", 50))); err != nil {
					t.Fatal(err)
				}
				if got := h.await(1); got.reset || !strings.Contains(got.body, "413") {
					t.Fatalf("after the whole body: %v, want the 413's body and END_STREAM", got)
				}
				if h.resetAfter(1) {
					t.Fatal("the stream was reset after the whole body and the 413")
				}
				refs := srv.refusals()[before:]
				if !b.declared {
					if len(refs) != 0 {
						t.Fatalf("a streamed body is the handler's to report, the listener reported %+v", refs)
					}
					return
				}
				if len(refs) != 1 || refs[0].Status != 413 || refs[0].Proto != "HTTP/2.0" || refs[0].Method != "POST" ||
					refs[0].Path != "/up" || refs[0].Host != "h2.test" || refs[0].Remote == nil {
					t.Fatalf("refusals: %+v", refs)
				}
			})
			t.Run(string(proto)+"/"+b.name+"/stops", func(t *testing.T) {
				h := srv.dial(t)
				post(h)
				start := time.Now()
				h.await(1)
				if d := time.Since(start); d > h2LingerIdle+3*time.Second {
					t.Fatalf("the stream ended %v after the 413, want about %v", d, h2LingerIdle)
				}
			})
		}
	}
}
