package listener

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"golang.org/x/net/http2"
)

// byteConn is a connection that reads from r, for driving the guard alone.
type byteConn struct {
	net.Conn
	r io.Reader
}

func (c *byteConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// frames returns n frames made by write, one per stream 1, 3, 5...
func frames(n int, write func(fr *http2.Framer, id uint32)) []byte {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	for i := range n {
		write(fr, uint32(2*i+1))
	}
	return b.Bytes()
}

// readFrames reads through g the way the engine's framer does: a header,
// then exactly its payload, into buffers of its own.
func readFrames(t testing.TB, g *h2Guard, hdr, payload []byte, n int) {
	for range n {
		if _, err := io.ReadFull(g, hdr[:frameHeaderLen]); err != nil {
			t.Fatal(err)
		}
		l := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if _, err := io.ReadFull(g, payload[:l]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestH2GuardSteadyStateDoesNotAllocate: DATA frames and header blocks of
// indexed fields (what clients send once the HPACK table is warm) cost the
// guard no allocation.
func TestH2GuardSteadyStateDoesNotAllocate(t *testing.T) {
	data := make([]byte, h2MaxReadFrame)
	cases := map[string]func(fr *http2.Framer, id uint32){
		"DATA": func(fr *http2.Framer, id uint32) { _ = fr.WriteData(1, false, data) },
		// :method GET, :scheme https, :path / and :authority from the
		// static table.
		"HEADERS": func(fr *http2.Framer, id uint32) {
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true,
				BlockFragment: []byte{0x82, 0x87, 0x84, 0x81}})
		},
	}
	for name, write := range cases {
		t.Run(name, func(t *testing.T) {
			const runs = 200
			in := append([]byte(http2.ClientPreface), frames(runs+1, write)...)
			g := newH2Guard(&byteConn{r: bytes.NewReader(in)}, 64<<10)
			hdr, payload := make([]byte, frameHeaderLen), make([]byte, h2MaxReadFrame)
			if _, err := io.ReadFull(g, payload[:len(http2.ClientPreface)]); err != nil {
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(runs, func() { readFrames(t, g, hdr, payload, 1) }); n != 0 {
				t.Fatalf("%v allocations per %s frame, want 0", n, name)
			}
		})
	}
}

func BenchmarkH2GuardData(b *testing.B) {
	data := make([]byte, h2MaxReadFrame)
	in := frames(64, func(fr *http2.Framer, _ uint32) { _ = fr.WriteData(1, false, data) })
	src := bytes.NewReader(in)
	g := newH2Guard(&byteConn{r: src}, 64<<10)
	g.skip = 0
	hdr, payload := make([]byte, frameHeaderLen), make([]byte, h2MaxReadFrame)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		src.Reset(in)
		readFrames(b, g, hdr, payload, 64)
	}
}

// FuzzH2Guard: whatever a client sends, the guard does not panic, hands the
// engine the same bytes however the engine sizes its reads, and adds at
// most one malformedTail per frame.
func FuzzH2Guard(f *testing.F) {
	f.Add(frames(2, func(fr *http2.Framer, id uint32) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true,
			BlockFragment: []byte{0x82, 0x87, 0x84, 0x40, 0x0a, 'c', 'o', 'n', 'n', 'e', 'c', 't', 'i', 'o', 'n', 0x01, 'x'}})
		_ = fr.WriteData(id, true, []byte("body"))
	}))
	f.Add(frames(1, func(fr *http2.Framer, _ uint32) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	}))
	f.Add(frames(1, func(fr *http2.Framer, id uint32) {
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: []byte{0x82, 0x87}})
		_ = fr.WriteContinuation(id, true, []byte{0x84, 0x81})
	}))
	f.Fuzz(func(t *testing.T, in []byte) {
		whole := readAll(t, in, 1<<20)
		for _, size := range []int{1, 7, 9, 100} {
			if got := readAll(t, in, size); !bytes.Equal(got, whole) {
				t.Fatalf("reads of %d bytes gave %d bytes, reads of 1 MiB %d", size, len(got), len(whole))
			}
		}
		if max := len(in) + len(malformedTail)*(len(in)/frameHeaderLen+1); len(whole) > max {
			t.Fatalf("%d bytes in, %d out", len(in), len(whole))
		}
	})
}

func readAll(t *testing.T, in []byte, size int) []byte {
	g := newH2Guard(&byteConn{r: bytes.NewReader(in)}, 1<<10)
	g.skip = 0 // the fuzzer's bytes start after the preface
	var out []byte
	buf := make([]byte, size)
	for {
		n, err := g.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
