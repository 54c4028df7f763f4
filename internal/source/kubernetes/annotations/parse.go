package annotations

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The two prefixes Pylon reads. PylonPrefix wins when both are set.
const (
	NginxPrefix = "nginx.ingress.kubernetes.io/"
	PylonPrefix = "pylon.io/"
)

// Status says what Pylon does with an annotation.
type Status string

// The statuses, from best to worst.
const (
	Honoured     Status = "honoured"     // same behaviour as ingress-nginx
	Approximated Status = "approximated" // close; the note says how it differs
	Unsupported  Status = "unsupported"  // ignored; the note says why
	Rejected     Status = "rejected"     // refused: an invalid value, or a raw nginx snippet
)

// Note reports what happened to one annotation of one Ingress.
type Note struct {
	Annotation string `json:"annotation" yaml:"annotation"` // the key as written, prefix included
	Status     Status `json:"status" yaml:"status"`
	Message    string `json:"message" yaml:"message"`
}

// Parse reads every annotation Pylon knows from ann. It returns the
// config, one note per annotation under either prefix (sorted by
// annotation), and the joined errors of every invalid value; each error
// names its annotation. Annotations under other prefixes are ignored: they
// belong to other tools.
func Parse(ann map[string]string) (*Config, []Note, error) {
	c := &Config{}
	var notes []Note
	var errs []error
	// Walk the Ingress's few annotations, not the table: most Ingresses
	// carry none of ours. Known ones are parsed in table order.
	var present []int
	for key := range ann {
		name, ok := strings.CutPrefix(key, PylonPrefix)
		if !ok {
			if name, ok = strings.CutPrefix(key, NginxPrefix); !ok {
				continue
			}
			if _, dup := ann[PylonPrefix+name]; dup {
				continue // reported once, under the prefix that wins
			}
		}
		if i, known := specIndex[name]; known {
			present = append(present, i)
			continue
		}
		notes = append(notes, unknownNote(key, name))
	}
	slices.Sort(present)
	for _, i := range present {
		s := &specs[i]
		key, v, _ := lookup(ann, s.Name)
		if err := s.parse(c, v); err != nil {
			err = fmt.Errorf("annotation %s: %w", key, err)
			errs = append(errs, err)
			notes = append(notes, Note{Annotation: key, Status: Rejected, Message: err.Error()})
			continue
		}
		if s.Status == Rejected {
			// Served without it, the Ingress would be less protected
			// than its author asked: refuse it.
			err := fmt.Errorf("annotation %s: %s", key, s.How)
			errs = append(errs, err)
			notes = append(notes, Note{Annotation: key, Status: Rejected, Message: err.Error()})
			continue
		}
		notes = append(notes, Note{Annotation: key, Status: s.Status, Message: s.How})
	}
	more, ignored := c.check()
	errs = append(errs, more...)
	for i := range notes {
		n := &notes[i]
		if why, ok := ignored[strings.TrimPrefix(strings.TrimPrefix(n.Annotation, PylonPrefix), NginxPrefix)]; ok && n.Status != Rejected {
			n.Status, n.Message = Unsupported, why
		}
	}
	sort.SliceStable(notes, func(i, j int) bool { return notes[i].Annotation < notes[j].Annotation })
	return c, notes, errors.Join(errs...)
}

// lookup returns the value of name, preferring the pylon.io/ prefix.
func lookup(ann map[string]string, name string) (key, value string, ok bool) {
	if v, ok := ann[PylonPrefix+name]; ok {
		return PylonPrefix + name, v, true
	}
	if v, ok := ann[NginxPrefix+name]; ok {
		return NginxPrefix + name, v, true
	}
	return "", "", false
}

// unknownNote reports an annotation Pylon does not implement. Snippets are
// refused loudly: their whole point is injecting nginx configuration.
func unknownNote(key, name string) Note {
	if name == "modsecurity-snippet" {
		return Note{Annotation: key, Status: Rejected, Message: modsecuritySnippetMessage}
	}
	if IsSnippet(name) {
		return Note{Annotation: key, Status: Rejected, Message: SnippetMessage}
	}
	return Note{Annotation: key, Status: Unsupported, Message: "not implemented by Pylon; ignored"}
}

// SnippetMessage explains why raw nginx snippets are refused.
const SnippetMessage = "raw nginx configuration is refused: snippets are a known injection risk (they run with the controller's privileges) and Pylon has no nginx to pass them to; express the behaviour with annotations or plugins"

// IsSnippet reports whether the annotation name (without prefix) carries raw
// nginx configuration.
func IsSnippet(name string) bool {
	return strings.HasSuffix(name, "-snippet") || name == "modsecurity-snippet"
}

// check folds options into the annotation they belong to and validates
// combinations. It returns the errors and, per annotation name, why it has
// no effect.
func (c *Config) check() ([]error, map[string]string) {
	var errs []error
	ignored := map[string]string{}
	p := &c.p
	if p.allowlist != nil {
		c.AllowSourceRanges = p.allowlist
	}
	if c.Redirect != nil && c.Redirect.Annotation == "permanent-redirect" && p.permanentCode != 0 {
		c.Redirect.Code = p.permanentCode
	}
	if p.corsEnabled {
		cors := corsDefaults
		for _, l := range []struct{ dst, src *[]string }{
			{&cors.AllowOrigins, &p.cors.AllowOrigins}, {&cors.AllowMethods, &p.cors.AllowMethods},
			{&cors.AllowHeaders, &p.cors.AllowHeaders}, {&cors.ExposeHeaders, &p.cors.ExposeHeaders},
		} {
			if *l.src != nil {
				*l.dst = *l.src
			}
		}
		if slices.Contains(p.corsSet, "credentials") {
			cors.AllowCredentials = p.cors.AllowCredentials
		}
		if slices.Contains(p.corsSet, "max-age") {
			cors.MaxAge = p.cors.MaxAge
		}
		c.CORS = &cors
	} else {
		for _, n := range []string{"cors-allow-origin", "cors-allow-methods", "cors-allow-headers", "cors-expose-headers", "cors-allow-credentials", "cors-max-age"} {
			ignored[n] = "no effect: enable-cors is not \"true\""
		}
	}
	if p.affinity == "cookie" {
		a := p.cookie
		if a.CookieName == "" {
			a.CookieName = "INGRESSCOOKIE"
		}
		c.Affinity = &a
	} else {
		for _, n := range []string{"session-cookie-name", "session-cookie-path", "session-cookie-max-age", "session-cookie-expires"} {
			ignored[n] = "no effect: affinity is not \"cookie\""
		}
	}
	if p.authType == "basic" {
		if p.authSecret == nil {
			errs = append(errs, fmt.Errorf("annotation auth-type: basic needs auth-secret"))
		} else {
			b := &BasicAuth{Secret: *p.authSecret, SecretType: p.authSecretTyp, Realm: p.authRealm}
			if b.SecretType == "" {
				b.SecretType = "auth-file"
			}
			c.BasicAuth = b
		}
	} else {
		for _, n := range []string{"auth-secret", "auth-secret-type", "auth-realm"} {
			ignored[n] = "no effect: auth-type is not \"basic\""
		}
	}
	if p.authTLSSecret != nil && p.authTLSVerify != "off" {
		a := &AuthTLS{Secret: *p.authTLSSecret, Optional: strings.HasPrefix(p.authTLSVerify, "optional"), Depth: p.authTLSDepth, PassCert: p.authTLSPass, MatchCN: p.authTLSCN}
		if a.Depth == 0 {
			a.Depth = 1
		}
		c.AuthTLS = a
	} else {
		why := "no effect: auth-tls-secret is not set"
		if p.authTLSSecret != nil {
			why = "no effect: auth-tls-verify-client is off"
			ignored["auth-tls-secret"] = why
		}
		for _, n := range []string{"auth-tls-verify-depth", "auth-tls-pass-certificate-to-upstream", "auth-tls-match-cn"} {
			ignored[n] = why
		}
		if p.authTLSSecret == nil {
			ignored["auth-tls-verify-client"] = why
		}
	}
	cn := c.Canary
	if !cn.Enabled && (cn.ByHeader != "" || cn.ByCookie != "" || cn.WeightSet) {
		errs = append(errs, fmt.Errorf("annotation canary-by-header, canary-by-cookie, canary-weight: need canary: \"true\""))
	}
	if (cn.ByHeaderValue != "" || cn.ByHeaderPattern != "") && cn.ByHeader == "" {
		errs = append(errs, fmt.Errorf("annotation canary-by-header-value, canary-by-header-pattern: need canary-by-header"))
	}
	if cn.WeightTotal == 0 {
		c.Canary.WeightTotal = 100
	}
	if cn.Weight > c.Canary.WeightTotal {
		errs = append(errs, fmt.Errorf("annotation canary-weight: %d is above canary-weight-total %d", cn.Weight, c.Canary.WeightTotal))
	}
	if cn.Enabled && c.Redirect != nil {
		errs = append(errs, fmt.Errorf("annotation canary: a canary Ingress cannot also redirect"))
	}
	if c.HashBy != nil && c.Affinity != nil {
		errs = append(errs, fmt.Errorf("annotation upstream-hash-by: cannot be combined with affinity"))
	}
	if len(c.CustomHTTPErrors) > 0 && c.DefaultBackend == "" {
		errs = append(errs, fmt.Errorf("annotation custom-http-errors: needs default-backend (Pylon has no global default backend)"))
	}
	if c.DefaultBackend != "" && len(c.CustomHTTPErrors) == 0 {
		ignored["default-backend"] = "no effect without custom-http-errors: Pylon does not send requests to it when a Service has no endpoints"
	}
	return errs, ignored
}
