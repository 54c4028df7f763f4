package waf

import (
	"errors"
	"fmt"
	"strings"

	"pylon.io/pylon/internal/plugin"
)

// Config is the waf plugin's config.
type Config struct {
	// Mode is "block" (matched rules answer the request) or "detect"
	// (they are logged and counted, and the request goes on).
	Mode string `json:"mode,omitempty"`
	// CRS turns on the OWASP Core Rule Set, bundled with the gateway.
	CRS CRS `json:"crs"`
	// Exclusions remove rules by id or tag, everywhere or under paths.
	Exclusions []Exclusion `json:"exclusions,omitempty"`
	// Rules are the user's own SecLang directives, loaded after the CRS
	// settings and before the CRS rules, so they can set CRS variables and
	// change rules at run time (ctl:).
	Rules string `json:"rules,omitempty"`
	// RulesAfterCRS are loaded after the CRS rules (SecRuleUpdate*,
	// SecRuleRemove* of rules the CRS defines).
	RulesAfterCRS string `json:"rulesAfterCRS,omitempty"`
	// RequestBody says how request bodies are inspected.
	RequestBody RequestBody `json:"requestBody"`
	// ResponseBody says whether and how response bodies are inspected.
	ResponseBody ResponseBody `json:"responseBody"`
	// AuditLog writes the relevant transactions as JSON lines to a file.
	AuditLog AuditLog `json:"auditLog"`
	// LogMatches writes every matched rule's message to the gateway's log,
	// as ModSecurity writes nginx's error log.
	LogMatches *bool `json:"logMatches,omitempty"`

	rules *compiled // what Validate compiled
}

// CRS are the Core Rule Set's settings.
type CRS struct {
	Enabled bool `json:"enabled"`
	// ParanoiaLevel (1-4) is the blocking paranoia level: higher levels
	// run more rules and catch more, with more false positives.
	ParanoiaLevel int `json:"paranoiaLevel,omitempty"`
	// DetectionParanoiaLevel runs the rules up to this level for the log
	// only; 0 is ParanoiaLevel.
	DetectionParanoiaLevel int `json:"detectionParanoiaLevel,omitempty"`
	// InboundAnomalyThreshold is the request score that blocks (CRS: 5).
	InboundAnomalyThreshold int `json:"inboundAnomalyThreshold,omitempty"`
	// OutboundAnomalyThreshold is the response score that blocks (CRS: 4).
	OutboundAnomalyThreshold int `json:"outboundAnomalyThreshold,omitempty"`
}

// Exclusion removes rules by id or tag; with paths, only for requests
// whose path starts with one of them.
type Exclusion struct {
	IDs   []int    `json:"ids,omitempty"`
	Tags  []string `json:"tags,omitempty"`
	Paths []string `json:"paths,omitempty"`
}

// RequestBody says how request bodies are inspected.
type RequestBody struct {
	// Inspect turns body inspection on (the default).
	Inspect *bool `json:"inspect,omitempty"`
	// Limit is how many bytes are inspected.
	Limit int `json:"limit,omitempty"`
	// OverLimit is what a longer body gets: "reject" (413, the default) or
	// "inspect-partial" (the first Limit bytes are inspected, the whole
	// body goes upstream).
	OverLimit string `json:"overLimit,omitempty"`
}

// ResponseBody says whether and how response bodies are inspected.
type ResponseBody struct {
	Inspect bool `json:"inspect,omitempty"`
	// Limit is how many bytes are held back and inspected; the rest of a
	// longer body is sent uninspected.
	Limit int `json:"limit,omitempty"`
	// MimeTypes are the content types inspected.
	MimeTypes []string `json:"mimeTypes,omitempty"`
}

// AuditLog writes relevant transactions (those that matched a rule that
// logs) as JSON lines to Path.
type AuditLog struct {
	Enabled bool   `json:"enabled,omitempty"`
	Path    string `json:"path,omitempty"`
	// Parts are ModSecurity's audit log parts (default "ABIJDEFHZ").
	Parts string `json:"parts,omitempty"`
}

const (
	defaultRequestLimit  = 128 << 10
	maxRequestLimit      = 64 << 20
	defaultResponseLimit = 512 << 10
	maxResponseLimit     = 64 << 20
)

// Default fills the defaults.
func (c *Config) Default() {
	c.Mode = "block"
	c.CRS.ParanoiaLevel = 1
	c.RequestBody.OverLimit = "reject"
	c.RequestBody.Limit = defaultRequestLimit
	c.ResponseBody.Limit = defaultResponseLimit
	c.ResponseBody.MimeTypes = []string{"text/plain", "text/html", "text/xml", "application/json"}
	c.AuditLog.Parts = "ABIJDEFHZ"
}

// Validate checks the config; the rules themselves are checked when they
// are compiled.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, plugin.Errorf(field, format, args...))
	}
	if c.Mode != "block" && c.Mode != "detect" {
		bad("mode", "must be block or detect (got %q)", c.Mode)
	}
	if c.CRS.ParanoiaLevel < 1 || c.CRS.ParanoiaLevel > 4 {
		bad("crs.paranoiaLevel", "must be 1 to 4 (got %d)", c.CRS.ParanoiaLevel)
	}
	if p := c.CRS.DetectionParanoiaLevel; p != 0 && (p < c.CRS.ParanoiaLevel || p > 4) {
		bad("crs.detectionParanoiaLevel", "must be from paranoiaLevel (%d) to 4 (got %d)", c.CRS.ParanoiaLevel, p)
	}
	if c.CRS.InboundAnomalyThreshold < 0 {
		bad("crs.inboundAnomalyThreshold", "must not be negative (got %d)", c.CRS.InboundAnomalyThreshold)
	}
	if c.CRS.OutboundAnomalyThreshold < 0 {
		bad("crs.outboundAnomalyThreshold", "must not be negative (got %d)", c.CRS.OutboundAnomalyThreshold)
	}
	for i, x := range c.Exclusions {
		f := fmt.Sprintf("exclusions[%d]", i)
		if len(x.IDs) == 0 && len(x.Tags) == 0 {
			bad(f, "names no rule: give ids or tags")
		}
		for j, id := range x.IDs {
			if id <= 0 {
				bad(fmt.Sprintf("%s.ids[%d]", f, j), "must be a positive rule id (got %d)", id)
			}
		}
		for j, t := range x.Tags {
			if t == "" || strings.ContainsAny(t, "\"',\\ \t\r\n") {
				bad(fmt.Sprintf("%s.tags[%d]", f, j), "must be a tag without quotes, commas, backslashes or spaces (got %q)", t)
			}
		}
		for j, p := range x.Paths {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\"'\\ \t\r\n") {
				bad(fmt.Sprintf("%s.paths[%d]", f, j), "must be a path starting with / without quotes, backslashes or spaces (got %q)", p)
			}
		}
	}
	rb := &c.RequestBody
	if rb.Limit <= 0 || rb.Limit > maxRequestLimit {
		bad("requestBody.limit", "must be 1 to %d bytes (got %d)", maxRequestLimit, rb.Limit)
	}
	if rb.OverLimit != "reject" && rb.OverLimit != "inspect-partial" {
		bad("requestBody.overLimit", "must be reject or inspect-partial (got %q)", rb.OverLimit)
	}
	if c.ResponseBody.Limit <= 0 || c.ResponseBody.Limit > maxResponseLimit {
		bad("responseBody.limit", "must be 1 to %d bytes (got %d)", maxResponseLimit, c.ResponseBody.Limit)
	}
	for i, m := range c.ResponseBody.MimeTypes {
		if m == "" || strings.ContainsAny(m, " \t\r\n\"") || !strings.Contains(m, "/") {
			bad(fmt.Sprintf("responseBody.mimeTypes[%d]", i), "must be a media type such as text/html (got %q)", m)
		}
	}
	if c.AuditLog.Enabled && c.AuditLog.Path == "" {
		bad("auditLog.path", "is required when the audit log is enabled")
	}
	if strings.ContainsAny(c.AuditLog.Path, "\"\r\n") {
		bad("auditLog.path", "must not hold quotes or line breaks")
	}
	for _, r := range c.AuditLog.Parts {
		if !strings.ContainsRune("ABCDEFGHIJKZ", r) {
			bad("auditLog.parts", "must be audit log parts from ABCDEFGHIJKZ (got %q)", c.AuditLog.Parts)
			break
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return c.validateRules()
}

func (c *Config) inspectRequestBody() bool {
	return c.RequestBody.Inspect == nil || *c.RequestBody.Inspect
}
func (c *Config) logMatches() bool { return c.LogMatches == nil || *c.LogMatches }
