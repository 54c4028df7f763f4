package etcd

import (
	"fmt"
	"strings"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// CursorNamespace is store.CursorNamespace, kept for callers of this package.
const CursorNamespace = store.CursorNamespace

// objects is the prefix of every object key, with its trailing '/'.
func (s *Store) objects() string { return s.prefix + "/objects/" }

// keyOf renders k as <prefix>/objects/<kind>/<namespace>/<name>.
func (s *Store) keyOf(k ir.Key) (string, error) {
	p, err := store.Path(k)
	return s.objects() + p, err
}

// parse is the inverse of keyOf.
func (s *Store) parse(key []byte) (ir.Key, error) {
	rest, ok := strings.CutPrefix(string(key), s.objects())
	if !ok {
		return ir.Key{}, fmt.Errorf("store: malformed etcd key %q", key)
	}
	return store.ParsePath(rest)
}
