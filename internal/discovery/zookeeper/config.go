// Package zookeeper finds service endpoints in a ZooKeeper ensemble, in
// the two layouts applications write there:
//
//   - dubbo: Apache Dubbo's registry. The providers of a Java interface are
//     the children of /dubbo/INTERFACE/providers, each named with the
//     provider's URL-encoded URL (dubbo://10.0.0.1:20880/INTERFACE?weight=...).
//   - curator: Curator x-discovery, as Spring Cloud Zookeeper (and Dubbo 3's
//     application-level discovery) use it. The instances of a service are
//     the children of /services/NAME, each holding a JSON ServiceInstance.
//
// A watch holds ZooKeeper child and data watches and rebuilds the set at
// each event; the client reconnects by itself, and after a session
// expiry the watches are set again.
package zookeeper

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"pylon.io/pylon/internal/discovery"
	"pylon.io/pylon/internal/ir"
)

// Config is one ZooKeeper provider: a connection to one ensemble.
type Config struct {
	Servers        []string    `json:"servers" yaml:"servers"`                                   // host:port of the ensemble's members
	SessionTimeout ir.Duration `json:"sessionTimeout,omitempty" yaml:"sessionTimeout,omitempty"` // default 10s; the server bounds it
	Root           string      `json:"root,omitempty" yaml:"root,omitempty"`                     // default /dubbo (dubbo) or /services (curator)
	Auth           string      `json:"auth,omitempty" yaml:"auth,omitempty"`                     // digest user:password, for nodes with an ACL
	TagsKey        string      `json:"tagsKey,omitempty" yaml:"tagsKey,omitempty"`               // default dubbo.tag then tag (dubbo), tags (curator)
	ZoneKey        string      `json:"zoneKey,omitempty" yaml:"zoneKey,omitempty"`               // default zone
	WeightKey      string      `json:"weightKey,omitempty" yaml:"weightKey,omitempty"`           // default weight
	PollInterval   ir.Duration `json:"pollInterval,omitempty" yaml:"pollInterval,omitempty"`     // a re-read that backs up the watches; default 60s
}

// The layouts a query can ask for.
const (
	LayoutDubbo   = "dubbo"
	LayoutCurator = "curator"
)

const (
	defaultSessionTimeout = 10 * time.Second
	defaultPollInterval   = 60 * time.Second
	minSessionTimeout     = time.Second
)

// Validate checks c; errors name field (e.g. "discovery[4].zookeeper").
// The auth value never appears in them.
func (c Config) Validate(field string) error {
	var errs []error
	if len(c.Servers) == 0 {
		errs = append(errs, fmt.Errorf("%s.servers: at least one server is required", field))
	}
	for i, s := range c.Servers {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.servers[%d]: %q is not host:port", field, i, s))
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || host == "" {
			errs = append(errs, fmt.Errorf("%s.servers[%d]: %q needs a host and a port in 1-65535", field, i, s))
		}
	}
	if c.SessionTimeout < 0 || (c.SessionTimeout > 0 && c.SessionTimeout.D() < minSessionTimeout) {
		errs = append(errs, fmt.Errorf("%s.sessionTimeout: must be at least %s (got %s)", field, minSessionTimeout, c.SessionTimeout))
	}
	if c.Root != "" {
		if err := checkPath(c.Root); err != nil {
			errs = append(errs, fmt.Errorf("%s.root: %q: %w", field, c.Root, err))
		}
	}
	if c.Auth != "" {
		if user, _, ok := strings.Cut(c.Auth, ":"); !ok || user == "" {
			errs = append(errs, fmt.Errorf("%s.auth: must be user:password for the digest scheme", field))
		}
	}
	if c.PollInterval < 0 {
		errs = append(errs, fmt.Errorf("%s.pollInterval: must not be negative", field))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.SessionTimeout == 0 {
		c.SessionTimeout = ir.Duration(defaultSessionTimeout)
	}
	if c.PollInterval == 0 {
		c.PollInterval = ir.Duration(defaultPollInterval)
	}
	if c.ZoneKey == "" {
		c.ZoneKey = "zone"
	}
	if c.WeightKey == "" {
		c.WeightKey = "weight"
	}
	return c
}

// checkPath reports whether p is a ZooKeeper path a root can be: absolute,
// no empty, "." or ".." segment, no trailing slash, no control character.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with /")
	}
	if p == "/" {
		return nil
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if err := checkNodeName(seg); err != nil {
			return err
		}
	}
	return nil
}

// checkNodeName reports whether s can be one segment of a ZooKeeper path.
func checkNodeName(s string) error {
	switch {
	case s == "":
		return errors.New("has an empty segment (// or a trailing /)")
	case s == "." || s == "..":
		return errors.New(`has a "." or ".." segment`)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("must be UTF-8 text without control characters")
	}
	return nil
}

// Check reports whether q is a query this provider can answer, before
// any provider is opened (a service's discovery block is checked so).
func Check(q discovery.Query) error { return checkQuery(q) }

func checkQuery(q discovery.Query) error {
	if q.Name != "" || q.SRV != "" || q.Port != 0 || len(q.Tags) > 0 || q.Namespace != "" || q.Partition != "" ||
		q.Datacenter != "" || q.Group != "" || len(q.Clusters) > 0 || q.App != "" {
		return fmt.Errorf("zookeeper: query for path %q: only path and layout apply", q.Path)
	}
	if q.Path == "" {
		return errors.New("zookeeper: query: path is required (the Dubbo interface or the Curator service name)")
	}
	switch q.Layout {
	case LayoutDubbo:
		if !utf8.ValidString(q.Path) || strings.ContainsFunc(q.Path, unicode.IsControl) {
			return fmt.Errorf("zookeeper: query path %q: must be UTF-8 text without control characters", q.Path)
		}
	case LayoutCurator:
		if strings.Contains(q.Path, "/") {
			return fmt.Errorf("zookeeper: query path %q: a Curator service name is one node, without /", q.Path)
		}
		if err := checkNodeName(q.Path); err != nil {
			return fmt.Errorf("zookeeper: query path %q: %w", q.Path, err)
		}
	case "":
		return fmt.Errorf("zookeeper: query for path %q: layout is required (dubbo or curator)", q.Path)
	default:
		return fmt.Errorf("zookeeper: query for path %q: layout %q is not one of dubbo, curator", q.Path, q.Layout)
	}
	return nil
}

// servicePath returns the node whose children are q's instances.
func (c Config) servicePath(q discovery.Query) string {
	root := c.Root
	if q.Layout == LayoutDubbo {
		if root == "" {
			root = "/dubbo"
		}
		return join(root, javaURLEncode(q.Path)) + "/providers"
	}
	if root == "" {
		root = "/services"
	}
	return join(root, q.Path)
}

func join(root, name string) string {
	if root == "/" {
		return "/" + name
	}
	return root + "/" + name
}
