package proxy

import (
	"io"
	"net"
	"net/http"
	"sync"
)

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyFlush streams src to w, flushing after every read so streaming
// responses (gRPC, server-sent events) are not held back.
func copyFlush(w io.Writer, src io.Reader) (int64, error) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	fl, _ := w.(http.Flusher)
	var n int64
	for {
		k, rerr := src.Read(buf)
		if k > 0 {
			wk, werr := w.Write(buf[:k])
			n += int64(wk)
			if werr != nil {
				return n, werr
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// clientIPFromRemote extracts the IP of a net/http RemoteAddr.
func clientIPFromRemote(dst []byte, remote string) []byte {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return append(dst, h...)
	}
	return append(dst, remote...)
}
