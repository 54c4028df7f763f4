package listener

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2MaxReadFrame is the largest frame the HTTP/2 engine accepts: 16 KiB,
// the protocol's default, rather than Go's 1 MiB, so a peer sending larger
// frames than it was told is refused (RFC 9113 4.2). The guard holds frames
// of at most this size.
const h2MaxReadFrame = 16 << 10

const (
	frameHeaderLen = 9
	// h2MaxSettings is the most parameters a SETTINGS frame may carry
	// before the engine refuses it as suspicious; the guard leaves larger
	// frames to that refusal.
	h2MaxSettings = 100
	// hpackTableSize is the HPACK table the engine decodes with (its
	// default, which Pylon does not change); the guard's decoder must
	// match it to stay in step with the client's encoder.
	hpackTableSize = 4096
)

// malformedTail ends a header block the guard found malformed: a
// CONTINUATION frame (stream ID filled in) carrying two empty Host fields,
// HPACK "literal without indexing" with the static table's name 38, "host"
// (RFC 7541 6.2.2, appendix A). A request with more than one Host is one the
// engine resets with PROTOCOL_ERROR after it has opened the stream, which is
// the answer RFC 9113 8.2.2 asks for.
var malformedTail = [...]byte{
	0, 0, 6, byte(http2.FrameContinuation), byte(http2.FlagContinuationEndHeaders), 0, 0, 0, 0,
	0x0f, 0x17, 0x00, 0x0f, 0x17, 0x00,
}

// heldFrames are the buffers of frames the guard holds until they are whole.
var heldFrames = sync.Pool{New: func() any {
	b := make([]byte, 0, frameHeaderLen+h2MaxReadFrame+len(malformedTail))
	return &b
}}

// h2Guard sits between a client's HTTP/2 connection and the HTTP/2 engine
// and mends, on the way in, the requests the engine would answer against
// RFC 9113. It passes the client's frames on as the engine reads them,
// byte for byte, with two exceptions:
//
//   - A request whose header block has a connection-specific field or a TE
//     other than "trailers" is malformed and calls for a stream error of
//     type PROTOCOL_ERROR (8.2.2); the engine would answer 400. The guard
//     appends malformedTail to such a block. The engine still decodes the
//     whole block, so its HPACK table stays in step with the client's, and
//     it opens and resets the stream itself, so it discards later frames on
//     that stream and returns their flow-control credit.
//   - A SETTINGS frame that repeats a parameter is processed in order
//     (6.5.3), which leaves each parameter at its last value; the engine
//     refuses repeats outright. The guard keeps only the last of each.
//
// Only HEADERS, CONTINUATION and SETTINGS frames are held until whole; every
// other payload, DATA included, is read straight into the engine's buffer,
// never copied. Anything the guard does not understand turns it off: the
// engine then sees the bytes as sent and answers them itself.
type h2Guard struct {
	net.Conn

	skip int // bytes to pass on before the next frame header
	hdr  [frameHeaderLen]byte
	nhdr int    // bytes of hdr read so far
	out  []byte // bytes ready for the engine: hdr, or a held frame
	held *[]byte
	want int // length of the held frame being read
	off  bool

	dec       *hpack.Decoder
	inBlock   bool   // a header block is open: CONTINUATION comes next
	blockID   uint32 // its stream
	request   bool   // the open block opens a stream (trailers do not)
	malformed bool
	lastID    uint32 // the highest stream a block opened

	// The open request's header list, as the engine sizes it: over maxList
	// the engine answers 431 itself, and tooLarge is told.
	listSize               uint32
	maxList                uint32
	method, authority, uri string
	tooLarge               func(method, authority, path string)
}

// tlsH2Guard is the guard over TLS: the engine learns the connection's TLS
// state through it. (Over h2c the guard must not have ConnectionState, or
// net/http would take the connection for TLS.)
type tlsH2Guard struct {
	*h2Guard
	tc *tls.Conn
}

func (g tlsH2Guard) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }

// newH2Guard guards c, which starts with the client's connection preface.
// maxString bounds the HPACK strings the guard decodes; a longer one turns
// it off.
func newH2Guard(c net.Conn, maxString int) *h2Guard {
	g := &h2Guard{Conn: c, skip: len(h2Preface)}
	g.dec = hpack.NewDecoder(hpackTableSize, g.emit)
	g.dec.SetMaxStringLength(maxString)
	return g
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(g.out) == 0 {
		switch {
		case g.off:
			return g.Conn.Read(p)
		case g.skip > 0:
			n, err := g.Conn.Read(p[:min(len(p), g.skip)])
			g.skip -= n
			return n, err
		case g.held != nil:
			if err := g.fill(); err != nil {
				return 0, err
			}
		default:
			if err := g.header(); err != nil {
				return 0, err
			}
		}
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	if len(g.out) == 0 && g.held != nil {
		*g.held = (*g.held)[:0]
		heldFrames.Put(g.held)
		g.held = nil
	}
	return n, nil
}

// header reads the next frame header and decides what becomes of the
// frame. A read error leaves the bytes read so far for the next call.
func (g *h2Guard) header() error {
	for g.nhdr < frameHeaderLen {
		n, err := g.Conn.Read(g.hdr[g.nhdr:])
		g.nhdr += n
		if err != nil && g.nhdr < frameHeaderLen {
			return err
		}
	}
	g.nhdr = 0
	length := int(g.hdr[0])<<16 | int(g.hdr[1])<<8 | int(g.hdr[2])
	typ, flags := http2.FrameType(g.hdr[3]), http2.Flags(g.hdr[4])
	switch {
	case length > h2MaxReadFrame:
		g.off = true // the engine refuses it with FRAME_SIZE_ERROR
	case typ == http2.FrameHeaders || typ == http2.FrameContinuation:
		g.hold(length)
		return nil
	case typ == http2.FrameSettings && !flags.Has(http2.FlagSettingsAck) &&
		length%6 == 0 && length > 6 && length <= h2MaxSettings*6:
		g.hold(length)
		return nil
	case g.inBlock:
		g.off = true // only CONTINUATION may follow an open block (6.10)
	}
	g.out = g.hdr[:]
	g.skip = length
	return nil
}

// hold starts reading a whole frame into a held buffer.
func (g *h2Guard) hold(length int) {
	g.held = heldFrames.Get().(*[]byte)
	*g.held = append((*g.held)[:0], g.hdr[:]...)
	g.want = frameHeaderLen + length
}

// fill reads the rest of the held frame and, once it is whole, mends it.
func (g *h2Guard) fill() error {
	for len(*g.held) < g.want {
		b := *g.held
		n, err := g.Conn.Read(b[len(b):g.want])
		*g.held = b[:len(b)+n]
		if err != nil && len(*g.held) < g.want {
			return err
		}
	}
	f := *g.held
	if http2.FrameType(f[3]) == http2.FrameSettings {
		f = dedupeSettings(f)
	} else {
		f = g.headerFrame(f)
	}
	*g.held = f
	g.out = f
	return nil
}

// headerFrame decodes a HEADERS or CONTINUATION frame f and, when it ends a
// malformed request block, appends malformedTail.
func (g *h2Guard) headerFrame(f []byte) []byte {
	flags := http2.Flags(f[4])
	id := streamID(f)
	frag := f[frameHeaderLen:]
	if http2.FrameType(f[3]) == http2.FrameHeaders {
		if g.inBlock || id == 0 {
			g.off = true // a connection error the engine reports
			return f
		}
		pad := 0
		if flags.Has(http2.FlagHeadersPadded) {
			if len(frag) < 1 {
				g.off = true
				return f
			}
			pad, frag = int(frag[0]), frag[1:]
		}
		if flags.Has(http2.FlagHeadersPriority) {
			if len(frag) < 5 {
				g.off = true
				return f
			}
			frag = frag[5:]
		}
		if pad > len(frag) {
			g.off = true
			return f
		}
		frag = frag[:len(frag)-pad]
		g.inBlock, g.blockID, g.malformed = true, id, false
		g.listSize, g.method, g.authority, g.uri = 0, "", "", ""
		// A block on a stream above every one before opens a request; one
		// on a known stream is trailers, which the engine checks itself.
		g.request = id%2 == 1 && id > g.lastID
		if g.request {
			g.lastID = id
		}
		g.dec.SetEmitEnabled(g.request)
	} else if !g.inBlock || id != g.blockID {
		g.off = true
		return f
	}
	if _, err := g.dec.Write(frag); err != nil {
		g.off = true // the engine fails the same block with COMPRESSION_ERROR
		return f
	}
	if !flags.Has(http2.FlagHeadersEndHeaders) {
		return f
	}
	g.inBlock = false
	if err := g.dec.Close(); err != nil {
		g.off = true
		return f
	}
	if g.request && !g.malformed && g.maxList > 0 && g.listSize > g.maxList && g.tooLarge != nil {
		g.tooLarge(g.method, g.authority, g.uri)
	}
	if !g.request || !g.malformed {
		return f
	}
	f[4] &^= byte(http2.FlagHeadersEndHeaders)
	n := len(f)
	f = append(f, malformedTail[:]...)
	putStreamID(f[n:], id)
	return f
}

// emit looks at each field of a request's header block (RFC 9113 8.2.2).
func (g *h2Guard) emit(hf hpack.HeaderField) {
	g.listSize += hf.Size()
	switch hf.Name {
	case ":method":
		g.method = hf.Value
	case ":authority":
		g.authority = hf.Value
	case ":path":
		g.uri = hf.Value
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		g.malformed = true
	case "te":
		if v := strings.TrimSpace(hf.Value); v != "" && !strings.EqualFold(v, "trailers") {
			g.malformed = true
		}
	}
	if g.malformed {
		g.dec.SetEmitEnabled(false) // the verdict is in; the rest only updates the table
	}
}

// dedupeSettings keeps, of each parameter in SETTINGS frame f, only the
// last value, which is where processing the values in order leaves it.
// Processing stops at the first invalid value (a connection error), so
// that value is kept, last, and nothing after it. Frames without repeats
// are left alone. (In-order processing could also fail on an intermediate
// INITIAL_WINDOW_SIZE that overflows a stream's window while the last one
// does not; the guard does not model windows, and accepts that frame.)
func dedupeSettings(f []byte) []byte {
	p := f[frameHeaderLen:]
	n := len(p) / 6
	id := func(i int) uint16 { return uint16(p[6*i])<<8 | uint16(p[6*i+1]) }
	repeats := false
	for i := 0; i < n && !repeats; i++ {
		for j := i + 1; j < n; j++ {
			if id(i) == id(j) {
				repeats = true
				break
			}
		}
	}
	if !repeats {
		return f
	}
	end := n
	for i := range n {
		s := http2.Setting{ID: http2.SettingID(id(i)),
			Val: uint32(p[6*i+2])<<24 | uint32(p[6*i+3])<<16 | uint32(p[6*i+4])<<8 | uint32(p[6*i+5])}
		if s.Valid() != nil {
			end = i + 1
			break
		}
	}
	w := 0
	for i := range end {
		later := false
		for j := i + 1; j < end; j++ {
			if id(j) == id(i) {
				later = true
				break
			}
		}
		if !later {
			copy(p[6*w:6*w+6], p[6*i:6*i+6])
			w++
		}
	}
	f[0], f[1], f[2] = 0, byte(6*w>>8), byte(6*w)
	return f[:frameHeaderLen+6*w]
}

func streamID(f []byte) uint32 {
	return (uint32(f[5])<<24 | uint32(f[6])<<16 | uint32(f[7])<<8 | uint32(f[8])) & (1<<31 - 1)
}

func putStreamID(f []byte, id uint32) {
	f[5], f[6], f[7], f[8] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
}
