package proxy

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// readFastRequest parses head as the HTTP/1.1 engine reads a request off
// the wire, so its RawHeaders are those of a real request.
func readFastRequest(t *testing.T, head string) *fasthttp.RequestCtx {
	t.Helper()
	var fc fasthttp.RequestCtx
	fc.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 4000}, nil)
	if err := fc.Request.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		t.Fatalf("reading %q: %v", head, err)
	}
	return &fc
}

func TestHeaderSetIndexes(t *testing.T) {
	if hopHeaders[hopTransferEncoding] != "Transfer-Encoding" {
		t.Fatalf("hopHeaders[hopTransferEncoding] = %q", hopHeaders[hopTransferEncoding])
	}
	if n := len(hopHeaders) + len(ownedHeaders) + len(traceHeaders); allHeaders != 1<<n-1 {
		t.Fatalf("allHeaders = %b, want %d ones", allHeaders, n)
	}
}

// Every header the preparation removes is removed from a request read off
// the wire, in any case of its name, while the presence set skips the
// deletes of the others; a chunked request, whose trailers join the header
// after the check, skips nothing.
func TestPresenceSetStillStripsEverything(t *testing.T) {
	names := append(append([]string{}, hopHeaders...), ownedHeaders...)
	for _, name := range names {
		if name == "Transfer-Encoding" {
			continue // framing: covered by the chunked case below
		}
		for _, spelled := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			t.Run(spelled, func(t *testing.T) {
				fc := readFastRequest(t, "GET /x HTTP/1.1\r\nHost: example.test\r\n"+spelled+": forged\r\nX-Keep: yes\r\n\r\n")
				status, reason, seen := checkFastRequest(fc)
				if status != 0 {
					t.Fatalf("refused: %d %s", status, reason)
				}
				if seen == allHeaders || seen == 0 {
					t.Fatalf("seen = %b, want just %s", seen, name)
				}
				c := &Ctx{host: []byte("example.test"), clientIP: []byte("10.0.0.9"), absent: allHeaders &^ seen}
				h := (*fastHeader)(&fc.Request.Header)
				stripOwned(c, h)
				prepareUpstream(c, h, false, false)
				if v := fc.Request.Header.Peek(name); len(v) > 0 {
					t.Fatalf("%s: %q reached the upstream", name, v)
				}
				if string(fc.Request.Header.Peek("X-Keep")) != "yes" {
					t.Fatalf("X-Keep lost")
				}
			})
		}
	}
	t.Run("chunked", func(t *testing.T) {
		fc := readFastRequest(t, "POST /x HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Consumer: forged\r\n\r\n")
		if _, _, seen := checkFastRequest(fc); seen != allHeaders {
			t.Fatalf("seen = %b for a chunked request, want every header", seen)
		}
	})
	t.Run("not read from the wire", func(t *testing.T) {
		var fc fasthttp.RequestCtx
		fc.Init(&fasthttp.Request{}, nil, nil)
		fc.Request.Header.Set(hdrConsumer, "forged")
		if _, _, seen := checkFastRequest(&fc); seen != allHeaders {
			t.Fatalf("seen = %b without a raw header block, want every header", seen)
		}
	})
}

// Every header name the gateway sets is in fasthttp's canonical form, as
// fastHeader.set and fastSender.setHeader take it without normalizing: a
// name in another case would sit beside the client's copy, not replace it.
func TestGatewayHeaderNamesCanonical(t *testing.T) {
	names := append(append(append([]string{}, gatewayHeaderNames[:]...), traceHeaders[:]...), "Te", "Connection", "Upgrade")
	for _, name := range names {
		var h fasthttp.RequestHeader
		h.Set(strings.ToLower(name), "v")
		for k := range h.All() {
			if string(k) != name {
				t.Errorf("%q is not canonical: fasthttp writes it %q", name, k)
			}
		}
		// And setting it replaces a client's copy in any case.
		var r fasthttp.RequestHeader
		r.Set(strings.ToUpper(name), "client")
		(*fastHeader)(&r).set(name, []byte("gateway"))
		if vs := r.PeekAll(name); name != "Connection" && (len(vs) != 1 || string(vs[0]) != "gateway") {
			t.Errorf("%s: after set the header holds %q", name, vs)
		}
	}
}
