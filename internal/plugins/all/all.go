// Package all links every built-in plugin into the binary: importing it
// runs their init() registrations. One import per plugin, in any order
// (execution order is internal/plugin's ordering table).
package all

import (
	_ "pylon.io/pylon/internal/plugins/basicauth"
	_ "pylon.io/pylon/internal/plugins/circuitbreaker"
	_ "pylon.io/pylon/internal/plugins/compression"
	_ "pylon.io/pylon/internal/plugins/concurrencylimit"
	_ "pylon.io/pylon/internal/plugins/cors"
	_ "pylon.io/pylon/internal/plugins/customerrors"
	_ "pylon.io/pylon/internal/plugins/faultinjection"
	_ "pylon.io/pylon/internal/plugins/headers"
	_ "pylon.io/pylon/internal/plugins/iprestriction"
	_ "pylon.io/pylon/internal/plugins/jwtauth"
	_ "pylon.io/pylon/internal/plugins/keyauth"
	_ "pylon.io/pylon/internal/plugins/mirror"
	_ "pylon.io/pylon/internal/plugins/ratelimit"
	_ "pylon.io/pylon/internal/plugins/redirect"
	_ "pylon.io/pylon/internal/plugins/requestsize"
	_ "pylon.io/pylon/internal/plugins/rewrite"
	_ "pylon.io/pylon/internal/plugins/sessionaffinity"
	_ "pylon.io/pylon/internal/plugins/tracing"
	_ "pylon.io/pylon/internal/plugins/trafficsplit"
	_ "pylon.io/pylon/internal/plugins/waf"
	_ "pylon.io/pylon/internal/plugins/wafbypass"
)
