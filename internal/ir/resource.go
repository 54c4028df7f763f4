package ir

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
)

// Kind names a resource type.
type Kind string

// The resource kinds.
const (
	KindListener    Kind = "listener"
	KindRoute       Kind = "route"
	KindService     Kind = "service"
	KindCertificate Kind = "certificate"
	// KindGlobalPlugin is a plugin attached to every route.
	KindGlobalPlugin Kind = "globalplugin"
	// KindHostPolicy attaches plugins to the routes of some hosts.
	KindHostPolicy Kind = "hostpolicy"
	// KindConsumer attaches plugins to the requests of one authenticated
	// client (consumer scope).
	KindConsumer Kind = "consumer"
)

// Kinds lists every kind in the order they are applied: discovery providers
// before the services that name them, services before the
// routes and plugins that reference them, plugin scopes before the routes
// they apply to, certificates before the listeners that serve them.
var Kinds = []Kind{KindDiscoveryProvider, KindService, KindCertificate, KindGlobalPlugin, KindHostPolicy, KindConsumer, KindRoute, KindListener}

// KindNames lists every kind for an error message, singular or plural:
// "service, certificate, …, route or listener".
func KindNames(plural bool) string {
	var b strings.Builder
	for i, k := range Kinds {
		switch {
		case i == len(Kinds)-1:
			b.WriteString(" or ")
		case i > 0:
			b.WriteString(", ")
		}
		if plural {
			b.WriteString(k.Plural())
		} else {
			b.WriteString(string(k))
		}
	}
	return b.String()
}

// Plural is the kind's name in URLs and CLI commands ("routes", "hostpolicies").
func (k Kind) Plural() string {
	if strings.HasSuffix(string(k), "y") {
		return strings.TrimSuffix(string(k), "y") + "ies"
	}
	return string(k) + "s"
}

// Key identifies one resource across all sources.
type Key struct {
	Kind      Kind
	Source    string // "file", "api", "kubernetes", …
	Namespace string // "default" where the source has no namespaces
	Name      string
}

// String renders the key as kind/source/namespace/name.
func (k Key) String() string {
	return string(k.Kind) + "/" + k.Source + "/" + k.Namespace + "/" + k.Name
}

// DisplayName is how an object is named in metrics, logs and upstream
// pools: its name in the "default" namespace, namespace/name otherwise.
func (k Key) DisplayName() string {
	if k.Namespace == "" || k.Namespace == "default" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// Resource is implemented by every IR object.
type Resource interface {
	ResourceKind() Kind
	ResourceName() string
	// Validate checks the object on its own and returns every problem,
	// joined, each naming the field.
	Validate() error
}

// Hash returns a stable content hash of r (the same across processes), used to
// skip work when a source re-sends an unchanged object.
func Hash(r Resource) uint64 {
	b, err := json.Marshal(r)
	if err != nil {
		// Every IR type is plain data; a marshal failure is a programming error.
		panic(fmt.Sprintf("ir: hash %s %q: %v", r.ResourceKind(), r.ResourceName(), err))
	}
	sum := sha256.Sum256(append([]byte(r.ResourceKind()+"\x00"), b...))
	return binary.LittleEndian.Uint64(sum[:8])
}
