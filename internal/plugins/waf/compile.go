package waf

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"

	"pylon.io/pylon/internal/plugin"
)

// A compiled rule set is shared by every scope whose config is the same:
// the CRS takes a fifth of a second and some megabytes to compile, and a
// thousand routes with the same waf config need it once. Validate compiles
// (so a bad rule is refused with the object), build takes the result.

// compiled is one config's rule set.
type compiled struct {
	key  string
	once sync.Once
	waf  coraza.WAF
	err  error
	// matches receives the engine's match messages; the instance that
	// built with this rule set logs them.
	matches *matchLog

	refs   int       // instances using it; under cache.mu
	unused time.Time // when refs went to 0
}

// keepUnused is how long a rule set no instance uses stays compiled: a
// config validated and then built, or removed and put back, is compiled
// once.
const keepUnused = time.Minute

// maxUnused bounds the rule sets kept unused: configs churned through
// faster than keepUnused cannot pile compiled rule sets up.
const maxUnused = 16

var cache = struct {
	mu sync.Mutex
	m  map[string]*compiled
}{m: map[string]*compiled{}}

// rulesFor returns the compiled rule set of c, compiling it on first use.
func rulesFor(c *Config) *compiled {
	raw, _ := json.Marshal(c)
	sum := sha256.Sum256(raw)
	key := string(sum[:])
	now := time.Now()
	cache.mu.Lock()
	var idle []*compiled
	for k, e := range cache.m {
		switch {
		case e.refs > 0:
		case now.Sub(e.unused) > keepUnused:
			delete(cache.m, k)
			e.close()
		default:
			idle = append(idle, e)
		}
	}
	if len(idle) >= maxUnused {
		slices.SortFunc(idle, func(a, b *compiled) int { return a.unused.Compare(b.unused) })
		for _, e := range idle[:len(idle)-maxUnused+1] {
			delete(cache.m, e.key)
			e.close()
		}
	}
	e := cache.m[key]
	if e == nil {
		e = &compiled{key: key, unused: now, matches: &matchLog{}}
		cache.m[key] = e
	}
	cache.mu.Unlock()
	e.once.Do(func() { e.waf, e.err = compile(c, e.matches) })
	return e
}

// acquire marks e used by one more instance; the returned func releases it.
func (e *compiled) acquire() func() {
	cache.mu.Lock()
	e.refs++
	cache.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			cache.mu.Lock()
			e.refs--
			if e.refs == 0 {
				e.unused = time.Now()
			}
			cache.mu.Unlock()
		})
	}
}

func (e *compiled) close() {
	if cl, ok := e.waf.(experimental.WAFCloser); ok {
		_ = cl.Close()
	}
}

// ruleIndex is what the compiled rules are: their ids and tags.
type ruleIndex struct {
	ids  map[int]bool
	tags map[string]bool
}

// compile builds the engine for c and checks that every exclusion names
// rules that exist.
func compile(c *Config, matches *matchLog) (coraza.WAF, error) {
	srcs := directives(c)
	idx := ruleIndex{ids: map[int]bool{}, tags: map[string]bool{}}
	w, err := newEngine(srcs, &idx, matches)
	if err != nil {
		return nil, locate(srcs, err)
	}
	var errs []error
	for i, x := range c.Exclusions {
		for j, id := range x.IDs {
			if !idx.ids[id] {
				errs = append(errs, plugin.Errorf(fmt.Sprintf("exclusions[%d].ids[%d]", i, j), "no rule has id %d", id))
			}
		}
		for j, t := range x.Tags {
			if !idx.tags[t] {
				errs = append(errs, plugin.Errorf(fmt.Sprintf("exclusions[%d].tags[%d]", i, j), "no rule has tag %q", t))
			}
		}
	}
	if len(errs) > 0 {
		if cl, ok := w.(experimental.WAFCloser); ok {
			_ = cl.Close()
		}
		return nil, errors.Join(errs...)
	}
	return w, nil
}

func newEngine(srcs []source, idx *ruleIndex, matches *matchLog) (coraza.WAF, error) {
	cfg := coraza.NewWAFConfig().WithRootFS(coreruleset.FS)
	if idx != nil {
		cfg = experimental.WAFConfigWithRuleObserver(cfg, func(r types.RuleMetadata) {
			idx.ids[r.ID()] = true
			for _, t := range r.Tags() {
				idx.tags[t] = true
			}
		})
	}
	if matches != nil {
		cfg = cfg.WithErrorCallback(matches.write)
	}
	for _, s := range srcs {
		cfg = cfg.WithDirectives(s.text)
	}
	return coraza.NewWAF(cfg)
}

// directive is one SecLang directive of a source: its text (continuation
// lines joined) and the line it starts on.
type directive struct {
	src  int
	line int
	text string
}

func split(srcs []source) []directive {
	var out []directive
	for i, s := range srcs {
		var cur strings.Builder
		start := 0
		for n, l := range strings.Split(s.text, "\n") {
			if cur.Len() == 0 {
				t := strings.TrimSpace(l)
				if t == "" || strings.HasPrefix(t, "#") {
					continue
				}
				start = n + 1
			}
			if strings.HasSuffix(l, "\\") {
				cur.WriteString(strings.TrimSuffix(l, "\\"))
				continue
			}
			cur.WriteString(l)
			out = append(out, directive{i, start, cur.String()})
			cur.Reset()
		}
		if cur.Len() > 0 {
			out = append(out, directive{i, start, cur.String()})
		}
	}
	return out
}

// locate finds the directive that makes the rule set fail: the shortest
// failing prefix, found by halving (a bad config compiles a few more
// times; a good one never). The error names the field and the line.
func locate(srcs []source, err error) error {
	ds := split(srcs)
	fails := func(n int) error {
		var b strings.Builder
		for _, d := range ds[:n] {
			b.WriteString(d.text)
			b.WriteByte('\n')
		}
		w, err := newEngine([]source{{text: b.String()}}, nil, nil)
		if cl, ok := w.(experimental.WAFCloser); ok {
			_ = cl.Close()
		}
		return err
	}
	lo, hi := 1, len(ds)
	if len(ds) == 0 || fails(hi) == nil {
		return plugin.Errorf("rules", "%s", engineError(err))
	}
	last := err
	for lo < hi {
		mid := (lo + hi) / 2
		if e := fails(mid); e != nil {
			hi, last = mid, e
		} else {
			lo = mid + 1
		}
	}
	if e := fails(hi); e != nil {
		last = e
	}
	d := ds[hi-1]
	field := srcs[d.src].name
	switch field {
	case "rules", "rulesAfterCRS":
		return plugin.Errorf(field, "line %d: %s", d.line, engineError(last))
	case "exclusions":
		return plugin.Errorf("exclusions", "%s", engineError(last))
	}
	return plugin.Errorf("rules", "with the %s: %s", field, engineError(last))
}

// engineError drops the engine's wrapping from a compile error.
func engineError(err error) string {
	s := err.Error()
	for _, p := range []string{"invalid WAF config from string: ", "failed to compile the directive "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}
