package etcd

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

// objects is the prefix of every object key, with its trailing '/'.
func (s *Store) objects() string { return s.prefix + "/objects/" }

// keyOf renders k as <prefix>/objects/<kind>/<namespace>/<name>. Kinds and
// namespaces cannot hold '/', so the key parses back even though names may.
func (s *Store) keyOf(k ir.Key) (string, error) {
	if err := checkKey(k); err != nil {
		return "", err
	}
	return s.objects() + string(k.Kind) + "/" + k.Namespace + "/" + k.Name, nil
}

// parse is the inverse of keyOf.
func (s *Store) parse(key []byte) (ir.Key, error) {
	rest, ok := strings.CutPrefix(string(key), s.objects())
	parts := strings.SplitN(rest, "/", 3)
	if !ok || len(parts) != 3 {
		return ir.Key{}, fmt.Errorf("store: malformed etcd key %q", key)
	}
	return ir.Key{Kind: ir.Kind(parts[0]), Source: store.Source, Namespace: parts[1], Name: parts[2]}, nil
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

// checkOps rejects bad keys and a key written twice in one commit (etcd
// refuses duplicate keys in a transaction).
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
