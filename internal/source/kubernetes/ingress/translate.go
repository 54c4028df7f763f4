package ingress

import (
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/kubernetes/annotations"
)

// Lookup gives Translate the objects an Ingress refers to. Both methods
// report false for an object that does not exist.
type Lookup interface {
	Service(namespace, name string) (*corev1.Service, bool)
	Secret(namespace, name string) (*corev1.Secret, bool)
}

// Options are the controller-wide settings translation depends on. The zero
// value behaves like ingress-nginx's defaults.
type Options struct {
	// NoDefaultSSLRedirect turns off the redirect of plain-HTTP requests to
	// HTTPS for hosts with a TLS section (ingress-nginx's ssl-redirect
	// default); the ssl-redirect annotation still turns it on per Ingress.
	NoDefaultSSLRedirect bool
}

// Note reports what Pylon made of one annotation.
type Note = annotations.Note

// Result is the translation of one Ingress.
type Result struct {
	// Objects are the IR objects: services first, then certificates, then
	// routes, each group in a stable order.
	Objects []ir.Resource
	// Services maps each IR service to the Kubernetes Service port whose
	// endpoints it needs.
	Services []ServiceRef
	// Canaries are the weighted parts of a canary Ingress, to fold into the
	// main Ingress's routes with ApplyCanary.
	Canaries []Canary
	// Notes has one entry per annotation under the nginx or pylon.io prefix.
	Notes []Note
	// Err rejects the whole Ingress; Objects, Services and Canaries are then
	// empty and the caller keeps the last good version.
	Err error
}

// ServiceRef ties an IR service to the Kubernetes Service port it stands for.
type ServiceRef struct {
	Name      string // the IR service's name
	Namespace string
	Service   string
	// Port is the Service port as resolved from the Service: EndpointSlice
	// ports carry its Name ("" for a single unnamed port).
	Port corev1.ServicePort
}

// Translate turns one Ingress into IR objects. It never panics on any
// Ingress the API server accepts, and never does I/O beyond l.
func Translate(ing *networkingv1.Ingress, l Lookup, opts Options) Result {
	cfg, notes, err := annotations.Parse(ing.Annotations)
	t := &translator{ing: ing, l: l, opts: opts, cfg: cfg, notes: notes, svcs: map[string]*ir.Service{}}
	if err != nil {
		t.errs = append(t.errs, err)
	}
	t.run()
	res := Result{Notes: t.notes}
	if len(t.errs) > 0 {
		res.Err = fmt.Errorf("ingress %s/%s: %w", ing.Namespace, ing.Name, errors.Join(t.errs...))
		return res
	}
	names := make([]string, 0, len(t.svcs))
	for n := range t.svcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		res.Objects = append(res.Objects, t.svcs[n])
	}
	for _, c := range t.certs {
		res.Objects = append(res.Objects, c)
	}
	for _, r := range t.routes {
		res.Objects = append(res.Objects, r.route)
	}
	sort.Slice(t.refs, func(i, j int) bool { return t.refs[i].Name < t.refs[j].Name })
	res.Services = t.refs
	res.Canaries = t.canaries
	return res
}

// translator holds one translation's state.
type translator struct {
	ing      *networkingv1.Ingress
	l        Lookup
	opts     Options
	cfg      *annotations.Config
	notes    []Note
	errs     []error
	svcs     map[string]*ir.Service
	refs     []ServiceRef
	certs    []*ir.Certificate
	routes   []ranked
	byKey    map[string]int // conflict key → index in routes
	canaries []Canary

	defaultSvc string          // the IR service of spec.defaultBackend
	authCfg    map[string]any  // the basic-auth config, read once
	path       string          // the Ingress path being translated ("" for default backends)
	tlsHosts   map[string]bool // hosts named by a TLS section
}

// ranked is a route with its precedence inside the Ingress: when two of its
// routes share a conflict key, the lower rank wins (an Exact path over the
// exact half of a Prefix path), then the earlier one.
type ranked struct {
	route *ir.Route
	rank  int
}

func (t *translator) fail(format string, args ...any) {
	err := fmt.Errorf(format, args...)
	for _, e := range t.errs {
		if e.Error() == err.Error() {
			return // the same problem seen again (a server-alias host)
		}
	}
	t.errs = append(t.errs, err)
}

// prefix is the start of every object name of this Ingress.
func (t *translator) prefix() string {
	return "ingress/" + t.ing.Namespace + "/" + t.ing.Name + "/"
}

func (t *translator) run() {
	t.tls()
	t.authTLS()
	spec := &t.ing.Spec
	if b := spec.DefaultBackend; b != nil {
		if t.defaultSvc = t.backend(b, "spec.defaultBackend"); t.defaultSvc != "" {
			t.addDefault(t.prefix()+"default", "", t.defaultSvc)
		}
	}
	for ri := range spec.Rules {
		t.rule(ri)
	}
	t.requireClientCerts()
	for _, r := range t.routes {
		if on := t.cfg.AccessLog; on != nil && !*on {
			r.route.AccessLog = &ir.RouteAccessLog{Enabled: on}
		}
		r.route.TagHeader = t.cfg.TagHeader
		if err := r.route.Validate(); err != nil {
			t.errs = append(t.errs, err)
		}
	}
	for _, s := range t.svcs {
		if err := s.Validate(); err != nil {
			t.errs = append(t.errs, err)
		}
	}
}

// add appends a route unless one with the same conflict key and a lower or
// equal rank is already there.
func (t *translator) add(r *ir.Route, rank int) {
	key := ConflictKey(r)
	if i, ok := t.byKey[key]; ok {
		if rank < t.routes[i].rank {
			t.routes[i] = ranked{r, rank}
		}
		return
	}
	if t.byKey == nil {
		t.byKey = map[string]int{}
	}
	t.byKey[key] = len(t.routes)
	t.routes = append(t.routes, ranked{r, rank})
}
