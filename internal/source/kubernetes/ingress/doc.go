// Package ingress translates one networking.k8s.io/v1 Ingress, with its
// ingress-nginx annotations, into IR objects. Translate is pure: no I/O, no
// global state; the Services and Secrets it needs come through Lookup, so
// the same Ingress and the same lookups always give the same objects.
//
// # Names
//
// Every object is named after the Ingress that made it, so names are
// deterministic and unique across the cluster, and one Ingress's objects
// never collide with another's or with another source's:
//
//	route        ingress/<namespace>/<ingress>/<rule>/<path>[-exact]
//	             ingress/<namespace>/<ingress>/<rule>/app-root
//	             ingress/<namespace>/<ingress>/<rule>/alias<n>/<path>[-exact]  (server-alias n)
//	             ingress/<namespace>/<ingress>/<rule>/from-to-www       (from-to-www-redirect)
//	             ingress/<namespace>/<ingress>/default            (spec.defaultBackend, any host)
//	             ingress/<namespace>/<ingress>/<rule>/default     (spec.defaultBackend on a rule's host)
//	service      ingress/<namespace>/<ingress>/<service>/<port>   (port number or name as written)
//	certificate  ingress/<namespace>/<ingress>/tls/<secret>
//
// Default-backend and from-to-www routes have priority -1, so an Ingress's
// own paths on the same host always win over them.
//
// <rule> and <path> are indexes into spec.rules and its paths. A Prefix path
// gives two routes (<path>-exact for the path itself, <path> for what lies
// below it), so /foo matches /foo and /foo/bar but not /foobar.
//
// Services are per Ingress, one per referenced Kubernetes Service port,
// because annotations (backend-protocol, load-balance, proxy-ssl-*) shape
// them per Ingress. They carry no endpoints and are marked Discovered; the
// caller fills them from the EndpointSlices of Result.Services[i].Service,
// port Result.Services[i].Port. An ExternalName Service is the exception: its
// name becomes the one endpoint.
//
// # Conflicts
//
// Each route has at most one host. ConflictKey returns what two routes
// compete for (host and match); when Ingresses share a key the caller keeps
// the oldest Ingress's route, as ingress-nginx does. A canary Ingress is the
// one case where two Ingresses share a key on purpose: it makes no routes,
// only services and Result.Canaries (its header, cookie and weight rules per
// key), which the caller folds into the main Ingress's route of that key
// with ApplyCanary (a traffic-split plugin on it).
//
// # Rejection
//
// A bad regex, an unknown Service or port, a missing or malformed Secret, a
// Secret named in another namespace, an invalid annotation value (an
// auth-tls-match-cn expression Go cannot compile among them), or a
// security annotation Pylon cannot enforce (auth-tls-secret on a host
// without a TLS section of its own) sets
// Result.Err: the whole Ingress is refused, never served less protected than
// asked, and the caller keeps its last good version serving. Notes say, per
// annotation, what Pylon made of it.
//
// # Plugins
//
// Annotations that need more than the IR's routes and services become
// plugins on the route, with the plugins' own config fields: basic-auth,
// rate-limit, concurrency-limit, ip-restriction, cors, rewrite, redirect
// (ssl-redirect), request-size, session-affinity and custom-errors; a
// canary adds traffic-split through ApplyCanary. The compile stage decodes
// and validates those configs; the golden tests check every one of them
// against the registered plugins.
package ingress
