package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// The pieces every registry provider needs alike: its instance metadata
// kept only where it is text, tags read from a metadata value, a set in
// one order, and GETs that fail over between the registry's servers.

// TextMetadata returns m without the entries whose key or value is not
// valid UTF-8 text, and how many it left out (nil for none left).
// encoding/json turns bytes that are not UTF-8 into U+FFFD, so such an
// entry, which was not text in the registry, is dropped rather than
// passed on mangled.
func TextMetadata(m map[string]string) (map[string]string, int) {
	var out map[string]string
	dropped := 0
	for k, v := range m {
		if !IsText(k) || !IsText(v) {
			dropped++
			continue
		}
		if out == nil {
			out = make(map[string]string, len(m))
		}
		out[k] = v
	}
	return out, dropped
}

// IsText reports whether s is valid UTF-8 without U+FFFD (what a decoder
// leaves of bytes that were not).
func IsText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, utf8.RuneError)
}

// SplitTags reads a comma-separated tag list ("gray, canary"); empty items
// are skipped.
func SplitTags(s string) []string {
	var tags []string
	for t := range strings.SplitSeq(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// SortedSet returns the instances as a Set in address order, cut to
// MaxInstances, so that equal answers make equal sets and the cut keeps
// the same instances each time.
func SortedSet(in []Instance) Set {
	slices.SortFunc(in, func(a, b Instance) int { return strings.Compare(a.Address, b.Address) })
	if len(in) > MaxInstances {
		in = in[:MaxInstances]
	}
	return Set{Instances: in}
}

// Fetcher GETs from a registry's HTTP API, trying its servers in turn from
// the last one that answered.
type Fetcher struct {
	Name    string   // the provider, for errors ("nacos")
	Servers []string // base URLs, such as http://10.0.0.1:8848
	Client  *http.Client
	Limit   int64 // the most body bytes read from one answer

	mu   sync.Mutex
	next int
}

// Get fetches path (with its query) from the first server that answers
// 200 OK, with header h, and returns the body and the server's base URL;
// when none does, the error names each server's failure.
func (f *Fetcher) Get(ctx context.Context, path string, h http.Header) ([]byte, string, error) {
	f.mu.Lock()
	first := f.next
	f.mu.Unlock()
	var errs []error
	for i := range f.Servers {
		n := (first + i) % len(f.Servers)
		server := f.Servers[n]
		body, err := f.getFrom(ctx, server+path, h)
		if err == nil {
			f.mu.Lock()
			f.next = n
			f.mu.Unlock()
			return body, server, nil
		}
		errs = append(errs, fmt.Errorf("%s: %s: %w", f.Name, server, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", errors.Join(errs...)
}

func (f *Fetcher) getFrom(ctx context.Context, u string, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.Limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > f.Limit {
		return nil, fmt.Errorf("answer larger than %d bytes", f.Limit)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return body, nil
}
