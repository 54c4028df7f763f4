package nacos

import (
	"errors"
	"fmt"
	"log/slog"

	"pylon.io/pylon/internal/discovery"
)

// errClosed is what a Watch returns when Close ends it.
var errClosed = errors.New("nacos: provider closed")

// New returns a provider for c, which must have passed Validate: the v2
// gRPC client for api v2, else the v1 HTTP one.
func New(c Config, log *slog.Logger) (discovery.Provider, error) {
	if err := c.Validate("nacos"); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	if c.API == "v2" {
		return newGRPC(c, log)
	}
	return newHTTP(c, log), nil
}

// Check reports whether q is a query this provider can answer, before
// any provider is opened (a service's discovery block is checked so).
func Check(q discovery.Query) error { return checkQuery(q) }

func checkQuery(q discovery.Query) error {
	if q.Name == "" {
		return errors.New("nacos: query: name is required")
	}
	if q.SRV != "" || q.Port != 0 || len(q.Tags) > 0 || q.Partition != "" || q.Datacenter != "" ||
		q.App != "" || q.Path != "" || q.Layout != "" {
		return fmt.Errorf("nacos: query %q: only name, namespace, group and clusters apply", q.Name)
	}
	if q.Namespace != "" && !namespaceRE.MatchString(q.Namespace) {
		return fmt.Errorf("nacos: query %q: namespace %q %s", q.Name, q.Namespace, namespaceRule)
	}
	return nil
}
