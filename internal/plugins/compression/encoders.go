package compression

import (
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Encoders are large (a brotli writer holds its window, a zstd encoder its
// history), so they are pooled per coding and level across all instances:
// a response takes one, and Close returns it. Steady state allocates only
// what a codec allocates inside itself.
var (
	gzipPools   [gzip.BestCompression + 1]sync.Pool // levels 1..9
	brotliPools [brotli.BestCompression + 1]sync.Pool
	zstdPools   [zstd.SpeedBestCompression + 1]sync.Pool
)

// zstdWindow bounds an encoder's window: responses are rarely larger, and
// an 8 MiB default window per pooled encoder would cost memory for nothing.
const zstdWindow = 1 << 20

// encoder is the codec-independent face of a pooled writer.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(w io.Writer)
}

// bodyWriter is the body filter handed to the proxy: it writes through a
// pooled encoder and gives the encoder back on Close.
type bodyWriter struct {
	enc  encoder
	pool *sync.Pool
}

func (b *bodyWriter) Write(p []byte) (int, error) { return b.enc.Write(p) }

// Flush pushes everything written so far out of the encoder, so a streamed
// response (server-sent events, gRPC-web) reaches the client chunk by chunk.
func (b *bodyWriter) Flush() error { return b.enc.Flush() }

// Close ends the compressed stream and returns the encoder to its pool. The
// writer must not be used afterwards.
func (b *bodyWriter) Close() error {
	err := b.enc.Close()
	b.enc.Reset(io.Discard) // drop the reference to the response's writer
	b.pool.Put(b)
	return err
}

// newWriter takes a writer for coding c at level from its pool, aimed at w.
func newWriter(c coding, level int, w io.Writer) *bodyWriter {
	var pool *sync.Pool
	switch c {
	case gzipC:
		pool = &gzipPools[level]
	case brotliC:
		pool = &brotliPools[level]
	default:
		pool = &zstdPools[level]
	}
	if v := pool.Get(); v != nil {
		b := v.(*bodyWriter)
		b.enc.Reset(w)
		return b
	}
	b := &bodyWriter{pool: pool}
	switch c {
	case gzipC:
		gz, _ := gzip.NewWriterLevel(w, level) // level validated at load
		b.enc = gz
	case brotliC:
		b.enc = brotli.NewWriterLevel(w, level)
	default:
		z, _ := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevel(level)),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
		b.enc = zstdEncoder{z}
	}
	return b
}

// zstdEncoder adapts Reset, which returns nothing on the other codecs.
type zstdEncoder struct{ *zstd.Encoder }

func (z zstdEncoder) Reset(w io.Writer) { z.Encoder.Reset(w) }
