package proxy

import (
	"errors"
	"io"
)

// replayBody is a streamed request body that a plugin read ahead of the
// upstream (Ctx.ReadBody): the upstream reads the bytes read so far, then
// the rest of the stream. It is allocated per request, not pooled: a
// transport may read or close a request body after RoundTrip has returned.
type replayBody struct {
	head []byte
	off  int // how much of head the upstream has read
	rest io.ReadCloser
	eof  bool
	err  error
}

// fill reads from the stream until head holds n bytes, the stream ends, or
// it fails; it returns head, whether it is the whole body, and the error.
func (b *replayBody) fill(n int) ([]byte, bool, error) {
	for !b.eof && b.err == nil && len(b.head) < n {
		if cap(b.head) == len(b.head) {
			grown := make([]byte, len(b.head), min(n, max(2*cap(b.head), 4096)))
			copy(grown, b.head)
			b.head = grown
		}
		k, err := b.rest.Read(b.head[len(b.head):min(n, cap(b.head))])
		b.head = b.head[:len(b.head)+k]
		switch {
		case errors.Is(err, io.EOF):
			b.eof = true
		case err != nil:
			b.err = err
		}
	}
	return b.head, b.eof, b.err
}

func (b *replayBody) Read(p []byte) (int, error) {
	if b.off < len(b.head) {
		k := copy(p, b.head[b.off:])
		b.off += k
		return k, nil
	}
	switch {
	case b.err != nil:
		return 0, b.err
	case b.eof:
		return 0, io.EOF
	}
	return b.rest.Read(p)
}

func (b *replayBody) Close() error { return b.rest.Close() }
