package ingress

import "pylon.io/pylon/internal/ir"

// plugins attaches the plugin-backed annotations to a route.
func (t *translator) plugins(r *ir.Route) {}
