package wafbypass

import "pylon.io/pylon/internal/plugin"

var (
	requestsFamily = plugin.NewFamily("pylon_waf_bypass_requests_total",
		"Requests the bypass WAF plugin saw, by outcome: allowed (the WAF answered 2xx), blocked (a block status), "+
			"fail_open and fail_closed (the WAF could not judge the request), unchecked (not sampled).", "outcome")
	failuresFamily = plugin.NewFamily("pylon_waf_bypass_failures_total",
		"Checks the WAF could not answer, by reason: timeout, error (connect, reset), status (neither 2xx nor a block status), "+
			"no_endpoint, circuit_open, canceled (the client went away).", "reason")
	circuitFamily = plugin.NewFamily("pylon_waf_bypass_circuit_total",
		"Transitions of the circuit around the WAF service: opened, half_open, closed.", "event")
)

// counters are one instance's counters, taken at build time so the
// request path only adds.
type counters struct {
	allowed, blocked, failOpen, failClosed, unchecked, clientError *plugin.Counter
	timeout, errored, badStatus, noEndpoint, circuitOpen, canceled *plugin.Counter
	opened, halfOpen, closedC                                      *plugin.Counter
}

func newCounters(env *plugin.Env) counters {
	req := func(v string) *plugin.Counter { return env.FamilyCounter(requestsFamily, v) }
	fail := func(v string) *plugin.Counter { return env.FamilyCounter(failuresFamily, v) }
	circ := func(v string) *plugin.Counter { return env.FamilyCounter(circuitFamily, v) }
	return counters{
		allowed: req("allowed"), blocked: req("blocked"), failOpen: req("fail_open"), failClosed: req("fail_closed"),
		unchecked: req("unchecked"), clientError: req("client_error"),
		timeout: fail("timeout"), errored: fail("error"), badStatus: fail("status"), noEndpoint: fail("no_endpoint"),
		circuitOpen: fail("circuit_open"), canceled: fail("canceled"),
		opened: circ("opened"), halfOpen: circ("half_open"), closedC: circ("closed"),
	}
}
