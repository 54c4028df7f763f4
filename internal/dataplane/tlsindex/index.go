package tlsindex

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shardCount splits the name space so that one change copies ~1/1024 of the
// names (about 100 at 100k names) instead of all of them, while the root
// that is copied on every publish stays at 8 KiB.
const shardCount = 1024

// shard is immutable once published. Exact names and wildcard suffixes
// ("*.example.com" is stored as "example.com") are kept apart so that a
// lookup never has to build a "*."-prefixed string.
type shard struct {
	exact map[string]*Entry
	wild  map[string]*Entry
}

var emptyShard = &shard{}

// root is one published version of the whole index.
type root struct {
	shards [shardCount]*shard
	def    *Entry
	n      int
	// clientAuth counts entries that verify client certificates, so that
	// requests skip the check when there are none.
	clientAuth int
}

// Index maps SNI names to certificates. Reads are lock-free; writes are
// serialized and publish a new root with one atomic store.
type Index struct {
	cur atomic.Pointer[root]

	mu     sync.Mutex          // serializes writers; readers never take it
	byKey  map[string]*Entry   // every live entry
	shadow map[string][]*Entry // names covered by more than one entry: the losers, sorted by key
	defKey string
	// clientAuthN counts live entries that verify client certificates.
	clientAuthN int
}

func (x *Index) countClientAuth(e *Entry, d int) {
	if e.client != nil {
		x.clientAuthN += d
	}
}

// EachExpiry calls fn with the expiry of every live certificate. It holds
// the writers' lock, not the readers' path.
func (x *Index) EachExpiry(fn func(notAfter time.Time)) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.byKey {
		fn(e.notAfter)
	}
}

// New returns an empty index.
func New() *Index {
	x := &Index{byKey: map[string]*Entry{}, shadow: map[string][]*Entry{}}
	r := &root{}
	for i := range r.shards {
		r.shards[i] = emptyShard
	}
	x.cur.Store(r)
	return x
}

// Len returns the number of certificates in the index.
func (x *Index) Len() int { return x.cur.Load().n }

// SetDefault names the certificate served when no name matches, or when the
// client sends no SNI. The key may name a certificate that arrives later.
// An empty key means no default: such handshakes fail.
func (x *Index) SetDefault(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.defKey = key
	old := x.cur.Load()
	r := *old
	r.def = x.byKey[key]
	x.cur.Store(&r)
}

// Apply replaces the certificates in upserts (matched by key) and removes the
// keys in deletes, then publishes the result atomically. Only the shards
// holding the touched names are copied. A key in both lists is upserted.
func (x *Index) Apply(upserts []*Entry, deletes []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	w := writer{x: x, old: x.cur.Load(), dirty: map[int]*dirtyShard{}}

	for _, k := range deletes {
		if e := x.byKey[k]; e != nil {
			w.remove(e)
			delete(x.byKey, k)
			x.countClientAuth(e, -1)
		}
	}
	for _, e := range upserts {
		if old := x.byKey[e.key]; old != nil {
			w.remove(old)
			x.countClientAuth(old, -1)
		}
		x.byKey[e.key] = e
		x.countClientAuth(e, 1)
		w.add(e)
	}

	r := *w.old
	for i, d := range w.dirty {
		s := d.shard
		r.shards[i] = &s
	}
	r.def = x.byKey[x.defKey]
	r.n = len(x.byKey)
	r.clientAuth = x.clientAuthN
	x.cur.Store(&r)
}

// writer holds the shard copies of one Apply call.
type writer struct {
	x     *Index
	old   *root
	dirty map[int]*dirtyShard
}

// dirtyShard is a shard being rebuilt; each of its maps is cloned from the
// published shard only when a name in it is first touched, so a change to an
// exact name never copies the wildcard map and vice versa.
type dirtyShard struct {
	shard
	exactOwned, wildOwned bool
}

// table returns the writable map for a name and the map key to use.
func (w *writer) table(name string) (m map[string]*Entry, k string) {
	wild := strings.HasPrefix(name, "*.")
	k = name
	if wild {
		k = name[2:]
	}
	i := int(hash(k) % shardCount)
	d := w.dirty[i]
	if d == nil {
		d = &dirtyShard{shard: *w.old.shards[i]}
		w.dirty[i] = d
	}
	if wild {
		if !d.wildOwned {
			d.wild, d.wildOwned = cloneOrMake(d.wild), true
		}
		return d.wild, k
	}
	if !d.exactOwned {
		d.exact, d.exactOwned = cloneOrMake(d.exact), true
	}
	return d.exact, k
}

func cloneOrMake(m map[string]*Entry) map[string]*Entry {
	if m == nil {
		return map[string]*Entry{}
	}
	return maps.Clone(m)
}

func (w *writer) add(e *Entry) {
	for _, n := range e.names {
		m, k := w.table(n)
		cur := m[k]
		switch {
		case cur == nil:
			m[k] = e
		case e.key < cur.key:
			m[k] = e
			w.x.shadow[n] = insertSorted(w.x.shadow[n], cur)
		default:
			w.x.shadow[n] = insertSorted(w.x.shadow[n], e)
		}
	}
}

func (w *writer) remove(e *Entry) {
	for _, n := range e.names {
		m, k := w.table(n)
		losers := w.x.shadow[n]
		if m[k] != e {
			losers = slices.DeleteFunc(losers, func(o *Entry) bool { return o == e })
		} else if len(losers) > 0 {
			// The next smallest key takes over the name.
			m[k], losers = losers[0], losers[1:]
		} else {
			delete(m, k)
		}
		if len(losers) == 0 {
			delete(w.x.shadow, n)
		} else {
			w.x.shadow[n] = losers
		}
	}
}

func insertSorted(s []*Entry, e *Entry) []*Entry {
	i, _ := slices.BinarySearchFunc(s, e.key, func(o *Entry, k string) int { return strings.Compare(o.key, k) })
	return slices.Insert(s, i, e)
}

// GetCertificate returns the certificate for the client's SNI name: an exact
// match, then a one-label wildcard, then the default. It is meant for
// tls.Config.GetCertificate, takes no locks and, once a certificate has been
// parsed, does not allocate.
func (x *Index) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	r := x.cur.Load()
	if e := r.lookup(hello.ServerName); e != nil {
		return e.certificate()
	}
	if r.def != nil {
		return r.def.certificate()
	}
	return nil, errNoCertificate
}

// ForListener returns a tls.Config.GetCertificate for one listener: SNI
// lookup as GetCertificate, then the certificate keyed defaultKey (none when
// empty), ignoring the index-wide default, so each listener has its own. The
// default is looked up on each miss, so a replaced certificate is served at
// once; a miss is a handshake without a matching name, rare enough that the
// writers' mutex costs nothing next to the handshake.
func (x *Index) ForListener(defaultKey string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if e := x.cur.Load().lookup(hello.ServerName); e != nil {
			return e.certificate()
		}
		if defaultKey == "" {
			return nil, errNoCertificate
		}
		x.mu.Lock()
		e := x.byKey[defaultKey]
		x.mu.Unlock()
		if e == nil {
			return nil, errNoCertificate
		}
		return e.certificate()
	}
}

// errNoCertificate is preallocated: a scan of random names must not turn
// into a stream of allocations.
var errNoCertificate = errors.New("tlsindex: no certificate for the requested server name")

func (r *root) lookup(serverName string) *Entry {
	name := strings.TrimSuffix(serverName, ".")
	if name == "" || len(name) > maxNameLen {
		return nil
	}
	// Lowercase into a stack buffer; map lookups keyed by string(b) do not
	// allocate.
	var buf [maxNameLen]byte
	b := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	if e := r.shards[hashBytes(b)%shardCount].exact[string(b)]; e != nil {
		return e
	}
	dot := -1
	for i, c := range b {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot <= 0 || dot == len(b)-1 {
		return nil
	}
	suffix := b[dot+1:]
	return r.shards[hashBytes(suffix)%shardCount].wild[string(suffix)]
}

// FNV-1a: cheap, allocation-free, and good enough to spread DNS names.
func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func hashBytes(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// String describes the index for debugging.
func (x *Index) String() string {
	r := x.cur.Load()
	def := "<none>"
	if r.def != nil {
		def = r.def.key
	}
	return fmt.Sprintf("tlsindex{certificates: %d, default: %s}", r.n, def)
}
