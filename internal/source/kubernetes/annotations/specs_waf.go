package annotations

import "fmt"

// WAF is what the ModSecurity annotations ask for, served by the waf
// plugin (Coraza with the OWASP CRS).
type WAF struct {
	Enabled bool // enable-modsecurity
	CRS     bool // enable-owasp-core-rules
	// Mode is "detect" (ingress-nginx's default modsecurity.conf runs
	// DetectionOnly) unless waf-mode says block.
	Mode          string
	ParanoiaLevel int // waf-paranoia-level; 0: the CRS's 1
	TransactionID string
}

// wafSpecs are ingress-nginx's ModSecurity annotations and Pylon's own
// for what ingress-nginx set in snippets.
var wafSpecs = []spec{
	row("enable-modsecurity", Approximated, "the waf plugin (the Coraza engine, not ModSecurity) on the Ingress's routes, in detection mode as ingress-nginx's default modsecurity.conf (matches are logged, in the access log's waf field and the gateway log, and pass); pylon.io/waf-mode: block refuses them. Without enable-owasp-core-rules only the body parser checks run, as with ingress-nginx's modsecurity.conf alone", func(c *Config, v string) (err error) {
		w := c.waf()
		w.Enabled, err = parseBool(v)
		return
	}),
	row("enable-owasp-core-rules", Honoured, "the OWASP Core Rule Set (v4.25, bundled) in the waf plugin; it implies enable-modsecurity, as in ingress-nginx", func(c *Config, v string) (err error) {
		w := c.waf()
		w.CRS, err = parseBool(v)
		return
	}),
	row("modsecurity-transaction-id", Approximated, "the transaction id is always the request's id (X-Request-Id as forwarded, in the access log and every match line), which is what the usual value $request_id gives; another value is accepted and not used", func(c *Config, v string) error {
		if !plainText(v) {
			return fmt.Errorf("must be a value without spaces or control characters (got %q)", v)
		}
		c.waf().TransactionID = v
		return nil
	}),
	row("waf-mode", Honoured, "detect (the default) or block: whether the waf plugin of enable-modsecurity refuses what its rules match (ModSecurity's SecRuleEngine On, which ingress-nginx users set in modsecurity-snippet)", func(c *Config, v string) error {
		if v != "detect" && v != "block" {
			return fmt.Errorf("must be detect or block (got %q)", v)
		}
		c.waf().Mode = v
		return nil
	}),
	row("waf-paranoia-level", Honoured, "1 to 4: the CRS's blocking paranoia level (tx.blocking_paranoia_level, which ingress-nginx users set in modsecurity-snippet)", func(c *Config, v string) (err error) {
		c.waf().ParanoiaLevel, err = parseInt(v, 1, 4)
		return
	}),
}

func (c *Config) waf() *WAF {
	if c.WAF == nil {
		c.WAF = &WAF{}
	}
	return c.WAF
}

// modsecuritySnippetMessage is why modsecurity-snippet is refused, and what
// to use instead.
const modsecuritySnippetMessage = "raw ModSecurity configuration is refused: snippets are a known injection risk (CVE-2025-1974 and others reached the controller through them); use pylon.io/waf-mode and pylon.io/waf-paranoia-level, or the waf plugin's rules field (SecLang, checked line by line) in Pylon's own config"
