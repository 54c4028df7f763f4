package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// requestIDs makes X-Request-Id values: a random per-process prefix and a
// counter, so generating one is an atomic add, not a read from the kernel.
var (
	ridPrefix  [16]byte
	ridCounter atomic.Uint64
)

func init() {
	var b [8]byte
	_, _ = rand.Read(b[:])
	hex.Encode(ridPrefix[:], b[:])
}

// appendRequestID appends a new request id (32 hex characters) to dst.
func appendRequestID(dst []byte) []byte {
	dst = append(dst, ridPrefix[:]...)
	n := ridCounter.Add(1)
	var buf [16]byte
	for i := 15; i >= 0; i-- {
		buf[i] = "0123456789abcdef"[n&0xf]
		n >>= 4
	}
	return append(dst, buf[:]...)
}

// validRequestID accepts a client's id only if it is short and plain, so it
// can be logged and forwarded without escaping.
func validRequestID(v []byte) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// isWebSocketUpgrade reports whether the Upgrade header asks for websocket.
func isWebSocketUpgrade(v []byte) bool { return bytes.EqualFold(v, websocketToken) }

// redirectLocation builds the Location of a redirect into dst.
func redirectLocation(dst []byte, rd *Redirect, tls bool, host, path, query []byte) []byte {
	scheme := rd.Scheme
	if scheme == "" {
		scheme = "http"
		if tls {
			scheme = "https"
		}
	}
	dst = append(dst, scheme...)
	dst = append(dst, "://"...)
	h := host
	if rd.Host != "" {
		h = unsafeBytes(rd.Host)
	}
	// Drop the request's port when the host or scheme changes, or a port is set.
	if rd.Host == "" && (rd.Port != 0 || rd.Scheme != "") {
		h = stripPort(h)
	}
	dst = append(dst, h...)
	if rd.Port != 0 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(rd.Port), 10)
	}
	if rd.Path != "" {
		dst = append(dst, rd.Path...)
	} else {
		dst = append(dst, path...)
	}
	if len(query) > 0 {
		dst = append(dst, '?')
		dst = append(dst, query...)
	}
	return dst
}

func stripPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i := len(h) - 1; i > 0; i-- {
			if h[i] == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			return h[:i]
		}
	}
	return h
}
