package proxy

import (
	"net/http"
	"strings"
)

// checkStdRequest is checkFastRequest for the net/http engine (HTTP/2,
// h2c, gRPC): the shapes its parser lets through that the HTTP/1.1 engine
// refuses get the same status here. Field names and values are checked by
// the engine itself (RFC 9113 8.2.1), and framing is by DATA frames.
func checkStdRequest(r *http.Request) (status int, reason string) {
	if len(r.Method) > maxMethodLen {
		return http.StatusBadRequest, reasonMethodTooLong
	}
	if !isToken(unsafeBytes(r.Method)) {
		return http.StatusBadRequest, reasonMethodInvalid
	}
	// A declared length must be one length: two different ones are the
	// HTTP/1.1 smuggling shape, and an HTTP/1.1 upstream would be given one
	// of them.
	if cl := r.Header["Content-Length"]; len(cl) > 1 {
		first := strings.TrimSpace(cl[0])
		for _, v := range cl[1:] {
			if strings.TrimSpace(v) != first {
				return http.StatusBadRequest, reasonContentLength
			}
		}
	}
	return 0, ""
}
