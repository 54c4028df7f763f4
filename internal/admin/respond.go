package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Envelope is how every object travels in responses, and optionally in
// requests: the kind, the store revision of its last write (its version for
// optimistic concurrency; 0 for an object of another source, never
// written to the store), where it comes from ("api", "file",
// "kubernetes"), its namespace when not "default", and the object with the
// YAML files' field names. The envelope keeps these out of the objects
// themselves, so a resource field can never collide with them. Source and
// namespace are ignored in requests: a write always goes to the store.
type Envelope struct {
	Kind      ir.Kind         `json:"kind"`
	Version   int64           `json:"version"`
	Source    string          `json:"source,omitempty"`
	Namespace string          `json:"namespace,omitempty"`
	Object    json.RawMessage `json:"object"`
}

// Problem is one thing wrong with one object of a write.
type Problem struct {
	Item    string `json:"item,omitempty"` // position in a batch: "upserts[2]", "deletes[0]"
	Object  string `json:"object"`         // kind/name, or kind alone when the name is unknown
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// errorBody is every error response. Version is set for conflicts: the
// object's current version, 0 when it does not exist.
type errorBody struct {
	Error    string    `json:"error"`
	Message  string    `json:"message,omitempty"`
	Object   string    `json:"object,omitempty"`
	Source   string    `json:"source,omitempty"` // of a read-only object a write was refused for
	Version  *int64    `json:"version,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}

// httpError is an error response not yet written.
type httpError struct {
	code int
	body errorBody
}

func (e *httpError) Error() string { return fmt.Sprintf("admin: %d %s", e.code, e.body.Error) }

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, errorBody{Error: "bad request", Message: fmt.Sprintf(format, args...)}}
}

func invalid(ps []Problem) *httpError {
	return &httpError{http.StatusBadRequest, errorBody{Error: "validation failed", Problems: ps}}
}

func objectName(kind ir.Kind, name string) string {
	if name == "" {
		return string(kind)
	}
	return string(kind) + "/" + name
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal error","message":"admin: encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, body errorBody) { writeJSON(w, code, body) }

// fail writes e and notes its outcome for the write log.
func fail(w http.ResponseWriter, r *http.Request, e *httpError) {
	if n := noteOf(r); n != nil {
		n.problems = len(e.body.Problems)
		if n.object == "" {
			n.object = e.body.Object
		}
	}
	writeError(w, e.code, e.body)
}

func lowerText(code int) string { return strings.ToLower(http.StatusText(code)) }

// readBody reads the whole body, at most max bytes (413 beyond); jsonBody
// then looks at what it is.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *httpError) {
	tooLarge := &httpError{http.StatusRequestEntityTooLarge, errorBody{Error: "request entity too large",
		Message: fmt.Sprintf("admin: body is larger than %d bytes", max)}}
	if r.ContentLength > max {
		return nil, tooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, badRequest("admin: read body: %v", err)
	}
	return b, nil
}

// note is what a request tells the write log about itself.
type note struct {
	object   string
	version  int64
	problems int
}

type noteKey struct{}

func noteOf(r *http.Request) *note {
	n, _ := r.Context().Value(noteKey{}).(*note)
	return n
}

// logWrites logs one line per write: method, path, object, status, version.
// Reads are not logged; the key never is.
func (s *Server) logWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		n := &note{}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), noteKey{}, n)))
		s.log.Info("admin write", "method", r.Method, "path", r.URL.Path, "object", n.object,
			"status", sw.code, "version", n.version, "problems", n.problems, "took", time.Since(start))
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// etag renders a version as an entity tag; parseIfMatch reads one back.
func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// parseIfMatch returns the version in an If-Match header: 0 when absent, -1
// for "*" (the object must exist, any version).
func parseIfMatch(h string) (int64, *httpError) {
	h = strings.TrimSpace(h)
	switch h {
	case "":
		return 0, nil
	case "*":
		return -1, nil
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || v <= 0 {
		return 0, badRequest("admin: If-Match must be one version, e.g. \"12\" (got %q)", h)
	}
	return v, nil
}
