package plugin

// order is the one ordering table: every plugin's fixed position, with the
// reason for it. Within each phase, hooks run in this order whatever the
// scope (global, host, route) a plugin was attached at. A plugin whose name
// is missing here cannot register.
var order = []struct {
	name, why string
	auth      bool // names the consumer: consumer-scope plugins run after it
}{
	{"tracing", "first: the sampling decision is made before any plugin can answer, so a refused request is traced at its route's share too", false},
	{"ip-restriction", "first: a denied address costs nothing more and reaches no other plugin", false},
	{"redirect", "before auth and limits, as nginx's ssl-redirect: a request that is only sent elsewhere needs no credentials and spends no quota", false},
	{"cors", "before auth and limits: browsers send preflights without credentials, and a preflight must not spend the client's quota", false},
	{"request-size", "before auth and limits: an oversized body is refused before any work is spent on it", false},
	{"waf", "after request-size, before auth and limits: an attack is refused before credentials are checked or quota is spent, and an oversized body before the WAF reads it", false},
	{"waf-bypass", "after the local waf, before auth and limits: it judges the request as the client sent it, credentials included, as a WAF in front of the gateway would; the cheap local refusals (the request phase, the waf plugin) spare it a round trip", false},
	{"basic-auth", "auth before limits, so limits can key by the authenticated consumer", true},
	{"key-auth", "auth before limits, so limits can key by the authenticated consumer", true},
	{"jwt-auth", "auth before limits, so limits can key by the authenticated consumer", true},
	{"rate-limit", "after auth (keys by consumer), before the concurrency limit: a request refused by rate never holds a slot", false},
	{"concurrency-limit", "after rate limits, so only admitted requests hold a slot until they finish", false},
	{"fault-injection", "after access control: injected delays and aborts hit only requests that would reach an upstream", false},
	{"rewrite", "request shaping after access control, so auth and limits see the path the client sent", false},
	{"headers", "after rewrite: request header changes apply to the request as it will go upstream; response changes see the final headers", false},
	{"traffic-split", "chooses the service (and tags the request) before the breaker, which guards the chosen service", false},
	{"session-affinity", "after the service is chosen: pins the client to an endpoint of it", false},
	{"circuit-breaker", "after service selection: it guards the service the request will really go to", false},
	{"mirror", "last before the upstream: copies the request exactly as it goes upstream, and only requests every check let through", false},
	{"custom-errors", "response phase before compression: a replaced error page is compressed like any body", false},
	{"compression", "last on the response: compresses the body every other plugin has finished with", false},
}

// position returns name's place in the ordering table.
func position(name string) (int, bool) {
	for i, o := range order {
		if o.name == name {
			return i, true
		}
	}
	return 0, false
}

// positionOf returns a registered plugin's position (test plugins sit
// after the table), or the end for an unknown name.
func positionOf(name string) int {
	if d, ok := Lookup(name); ok {
		return d.Position
	}
	if i, ok := position(name); ok {
		return i
	}
	return len(order) + 1<<20
}

// OrderAt returns the i-th entry of the ordering table.
func OrderAt(i int) (name, why string, ok bool) {
	if i < 0 || i >= len(order) {
		return "", "", false
	}
	return order[i].name, order[i].why, true
}

// OrderReason returns why the named plugin sits where it does.
func OrderReason(name string) string {
	if i, ok := position(name); ok {
		return order[i].why
	}
	return ""
}
