package bolt

import (
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// CursorNamespace is store.CursorNamespace, kept for callers of this package.
const CursorNamespace = store.CursorNamespace

// path renders a key as the bbolt key, "kind/namespace/name".
func path(k ir.Key) ([]byte, error) {
	p, err := store.Path(k)
	return []byte(p), err
}

// parsePath is the inverse of path.
func parsePath(p []byte) (ir.Key, error) { return store.ParsePath(string(p)) }
