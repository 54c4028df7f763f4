// Package compression is the compression plugin: it compresses response
// bodies with zstd, brotli or gzip, as the client's Accept-Encoding allows,
// streaming (each chunk from the upstream is flushed through the encoder).
package compression

import (
	"bytes"
	"io"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("compression", "Compresses response bodies (zstd, brotli, gzip) as Accept-Encoding allows", build)
}

// Compressor is one compression instance.
type Compressor struct {
	prefs     []coding
	minLength int64
	types     []pattern
	levels    [numCodings]int
}

var (
	_ plugin.ResponseHandler = (*Compressor)(nil)
	_ plugin.BodyHandler     = (*Compressor)(nil)
)

func build(cfg *Config, _ *plugin.Env) (*Compressor, error) {
	p := &Compressor{minLength: cfg.MinLength, types: compilePatterns(cfg.Types)}
	for _, e := range cfg.Encodings {
		c, _ := codingOf(e)
		p.prefs = append(p.prefs, c)
	}
	p.levels[gzipC] = cfg.GzipLevel
	p.levels[brotliC] = cfg.BrotliLevel
	p.levels[zstdC] = cfg.ZstdLevel
	return p, nil
}

// Response decides whether the body is compressed and, if so, fixes the
// headers; the choice is kept in the slot for ResponseBody.
func (p *Compressor) Response(c plugin.Ctx, s *plugin.Slot) {
	s.N = int64(identity)
	switch st := c.Status(); {
	case st < 200, st == 204, st == 206, st == 304:
		return // no body, or a byte range of the uncompressed representation
	}
	if string(c.Method()) == "HEAD" {
		return
	}
	if ce := respHeader(c, "Content-Encoding"); len(ce) > 0 && !equalFold(trim(ce), "identity") {
		return // already encoded (the upstream compressed it)
	}
	if len(respHeader(c, "Content-Range")) > 0 {
		return
	}
	if containsFold(respHeader(c, "Cache-Control"), "no-transform") {
		return
	}
	ct := respHeader(c, "Content-Type")
	if len(ct) == 0 || !matchType(p.types, ct) {
		return
	}
	// From here the representation depends on Accept-Encoding, whatever
	// this client accepts: caches must key on it.
	addVary(c)
	if cl := respHeader(c, "Content-Length"); len(cl) > 0 {
		if n, ok := parseLength(cl); ok && (n < p.minLength || n == 0) {
			return
		}
	}
	ae, _ := c.Header("Accept-Encoding")
	enc := negotiate(ae, p.prefs)
	if enc == identity {
		return
	}
	c.SetResponseHeader("Content-Encoding", names[enc])
	c.DelResponseHeader("Content-Length")
	c.DelResponseHeader("Accept-Ranges") // ranges of the compressed body are not offered
	if et := respHeader(c, "ETag"); len(et) > 0 && !bytes.HasPrefix(et, []byte("W/")) {
		// The compressed bytes differ from the identity ones: a strong
		// validator would claim byte equality across encodings.
		c.SetResponseHeader("ETag", "W/"+string(et))
	}
	s.N = int64(enc)
}

// ResponseBody returns the compressing writer when Response chose a coding.
func (p *Compressor) ResponseBody(_ plugin.Ctx, s *plugin.Slot, w io.Writer) io.WriteCloser {
	enc := coding(s.N)
	if enc == identity || enc >= numCodings {
		return nil
	}
	return newWriter(enc, p.levels[enc], w)
}

// respHeader returns a response header's value; an empty value counts as
// absent (the HTTP/1.1 engine reports some absent headers as present and
// empty, and an empty Content-Encoding means identity anyway).
func respHeader(c plugin.Ctx, name string) []byte {
	v, _ := c.ResponseHeader(name)
	return v
}

// addVary adds Accept-Encoding to Vary unless it is there (or Vary is *).
func addVary(c plugin.Ctx) {
	if v := respHeader(c, "Vary"); len(v) > 0 {
		if containsFold(v, "accept-encoding") || bytes.Equal(trim(v), []byte("*")) {
			return
		}
	}
	c.AddResponseHeader("Vary", "Accept-Encoding")
}

// containsFold reports whether the lower-case ASCII s occurs in b, ignoring
// b's case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if equalFold(b[i:i+len(s)], s) {
			return true
		}
	}
	return false
}

func parseLength(b []byte) (int64, bool) {
	b = trim(b)
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
