package store

import (
	"fmt"
	"strings"

	"pylon.io/pylon/internal/ir"
)

// CursorNamespace is the namespace List's `after` cursor names an object
// in. The cursor is a bare name; admin API objects all live in "default",
// so names are unique there.
const CursorNamespace = "default"

// Path renders a key as "kind/namespace/name", the form both stores key
// objects by. Kinds and namespaces cannot hold '/', so the path parses back
// unambiguously even though names may.
func Path(k ir.Key) (string, error) {
	if err := CheckKey(k); err != nil {
		return "", err
	}
	return string(k.Kind) + "/" + k.Namespace + "/" + k.Name, nil
}

// ParsePath is the inverse of Path.
func ParsePath(p string) (ir.Key, error) {
	parts := strings.SplitN(p, "/", 3)
	if len(parts) != 3 {
		return ir.Key{}, fmt.Errorf("store: malformed key %q", p)
	}
	return ir.Key{Kind: ir.Kind(parts[0]), Source: Source, Namespace: parts[1], Name: parts[2]}, nil
}

// CheckKey rejects keys a store cannot hold.
func CheckKey(k ir.Key) error {
	switch {
	case k.Kind == "" || strings.Contains(string(k.Kind), "/"):
		return fmt.Errorf("store: %s %q: kind must be non-empty without '/'", k.Kind, k.Name)
	case k.Namespace == "" || strings.Contains(k.Namespace, "/"):
		return fmt.Errorf("store: %s %q: namespace %q must be non-empty without '/'", k.Kind, k.Name, k.Namespace)
	case k.Name == "":
		return fmt.Errorf("store: %s: empty name", k.Kind)
	case k.Source != "" && k.Source != Source:
		return fmt.Errorf("store: %s %q: source %q is not %q", k.Kind, k.Name, k.Source, Source)
	}
	return nil
}

// CheckOps rejects bad keys, a key written twice in one commit (etcd refuses
// that in a transaction) and invalid expectations.
func CheckOps(ops []Op) error {
	seen := make(map[ir.Key]bool, len(ops))
	for _, op := range ops {
		if err := CheckKey(op.Key); err != nil {
			return err
		}
		k := op.Key
		k.Source = Source
		if seen[k] {
			return fmt.Errorf("store: commit: %s %q in namespace %q appears twice", k.Kind, k.Name, k.Namespace)
		}
		seen[k] = true
		if op.Expect < Missing {
			return fmt.Errorf("store: commit: %s %q: invalid expectation %d", k.Kind, k.Name, op.Expect)
		}
	}
	return nil
}
