package bolt

import (
	"fmt"
	"strings"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/store"
)

// CursorNamespace is the namespace List's `after` cursor names an object
// in. store.Store's cursor is a bare name; admin API objects all live in
// "default", so names are unique there.
const CursorNamespace = "default"

// path renders a key as "kind/namespace/name", the bbolt key. Kinds and
// namespaces cannot hold '/', so the path parses back unambiguously even
// though names may.
func path(k ir.Key) ([]byte, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	return []byte(string(k.Kind) + "/" + k.Namespace + "/" + k.Name), nil
}

func checkKey(k ir.Key) error {
	switch {
	case k.Kind == "" || strings.Contains(string(k.Kind), "/"):
		return fmt.Errorf("store: %s %q: kind must be non-empty without '/'", k.Kind, k.Name)
	case k.Namespace == "" || strings.Contains(k.Namespace, "/"):
		return fmt.Errorf("store: %s %q: namespace %q must be non-empty without '/'", k.Kind, k.Name, k.Namespace)
	case k.Name == "":
		return fmt.Errorf("store: %s: empty name", k.Kind)
	case k.Source != "" && k.Source != store.Source:
		return fmt.Errorf("store: %s %q: source %q is not %q", k.Kind, k.Name, k.Source, store.Source)
	}
	return nil
}

// parsePath is the inverse of path.
func parsePath(p []byte) (ir.Key, error) {
	parts := strings.SplitN(string(p), "/", 3)
	if len(parts) != 3 {
		return ir.Key{}, fmt.Errorf("store: malformed key %q", p)
	}
	return ir.Key{Kind: ir.Kind(parts[0]), Source: store.Source, Namespace: parts[1], Name: parts[2]}, nil
}

// checkOps rejects bad keys and a key written twice in one commit.
func checkOps(ops []store.Op) error {
	seen := make(map[ir.Key]bool, len(ops))
	for _, op := range ops {
		if err := checkKey(op.Key); err != nil {
			return err
		}
		k := op.Key
		k.Source = store.Source
		if seen[k] {
			return fmt.Errorf("store: commit: %s %q in namespace %q appears twice", k.Kind, k.Name, k.Namespace)
		}
		seen[k] = true
		if op.Expect < store.Missing {
			return fmt.Errorf("store: commit: %s %q: invalid expectation %d", k.Kind, k.Name, op.Expect)
		}
	}
	return nil
}
