package waf

import (
	"fmt"
	"strconv"
	"strings"
)

// exclusionID numbers the rules of path exclusions, one per path: the
// CRS owns 900000-999999, and users number their own below; these sit
// above both.
const exclusionID = 10_000_000

// source is one piece of SecLang with the name errors report it under.
type source struct {
	name, text string
}

// directives turns a config into the SecLang the engine compiles, in
// order: the engine settings, the CRS settings, the user's rules, the
// exclusions under paths (which must run before the rules they remove),
// the CRS, the exclusions everywhere, the user's rules after the CRS.
func directives(c *Config) []source {
	var out []source
	out = append(out, source{"engine", engineDirectives(c)})
	if c.CRS.Enabled {
		out = append(out, source{"crs settings", crsSettings(c)})
	}
	if strings.TrimSpace(c.Rules) != "" {
		out = append(out, source{"rules", c.Rules})
	}
	always, under := exclusions(c)
	if under != "" {
		out = append(out, source{"exclusions", under})
	}
	if c.CRS.Enabled {
		out = append(out, source{"crs", "Include @owasp_crs/*.conf\n"})
	}
	if always != "" {
		out = append(out, source{"exclusions", always})
	}
	if strings.TrimSpace(c.RulesAfterCRS) != "" {
		out = append(out, source{"rulesAfterCRS", c.RulesAfterCRS})
	}
	return out
}

func engineDirectives(c *Config) string {
	var b strings.Builder
	engine := "On"
	if c.Mode == "detect" {
		engine = "DetectionOnly"
	}
	fmt.Fprintf(&b, "SecRuleEngine %s\n", engine)
	onOff := func(on bool) string {
		if on {
			return "On"
		}
		return "Off"
	}
	fmt.Fprintf(&b, "SecRequestBodyAccess %s\n", onOff(c.inspectRequestBody()))
	fmt.Fprintf(&b, "SecRequestBodyLimit %d\n", c.RequestBody.Limit)
	fmt.Fprintf(&b, "SecRequestBodyInMemoryLimit %d\n", c.RequestBody.Limit)
	if c.RequestBody.OverLimit == "reject" {
		b.WriteString("SecRequestBodyLimitAction Reject\n")
	} else {
		b.WriteString("SecRequestBodyLimitAction ProcessPartial\n")
	}
	fmt.Fprintf(&b, "SecResponseBodyAccess %s\n", onOff(c.ResponseBody.Inspect))
	fmt.Fprintf(&b, "SecResponseBodyLimit %d\n", c.ResponseBody.Limit)
	b.WriteString("SecResponseBodyLimitAction ProcessPartial\n")
	fmt.Fprintf(&b, "SecResponseBodyMimeType %s\n", strings.Join(c.ResponseBody.MimeTypes, " "))
	b.WriteString("SecArgumentsLimit 1000\nSecRequestBodyJsonDepthLimit 1024\n")
	// Every phase logs and passes unless a rule says otherwise, as the CRS
	// expects of its host.
	for p := 1; p <= 5; p++ {
		fmt.Fprintf(&b, "SecDefaultAction \"phase:%d,log,auditlog,pass\"\n", p)
	}
	if c.AuditLog.Enabled {
		b.WriteString("SecAuditEngine RelevantOnly\nSecAuditLogFormat JSON\nSecAuditLogType Serial\n")
		fmt.Fprintf(&b, "SecAuditLogParts %s\n", c.AuditLog.Parts)
		fmt.Fprintf(&b, "SecAuditLog \"%s\"\n", c.AuditLog.Path)
	} else {
		b.WriteString("SecAuditEngine Off\n")
	}
	// Bodies in these formats are parsed into arguments the rules see; a
	// body that does not parse is refused rather than passed uninspected.
	// The ids are the ones ModSecurity deployments use for these checks,
	// so exclusions written for them carry over.
	b.WriteString(`SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "@rx ^application/(?:[a-z0-9.-]+[+])?json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body',logdata:'%{reqbody_error_msg}',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation'"
SecRule URI_PARSE_ERROR "@eq 1" "id:200009,phase:1,t:none,log,deny,status:400,msg:'URI failed to parse'"
`)
	return b.String()
}

// crsSettings replaces the CRS's crs-setup.conf: the version check the
// CRS asks for, and the paranoia levels and thresholds from the config.
func crsSettings(c *Config) string {
	detect := c.CRS.DetectionParanoiaLevel
	if detect == 0 {
		detect = c.CRS.ParanoiaLevel
	}
	vars := []string{
		"tx.crs_setup_version=4250",
		"tx.blocking_paranoia_level=" + strconv.Itoa(c.CRS.ParanoiaLevel),
		"tx.detection_paranoia_level=" + strconv.Itoa(detect),
	}
	if n := c.CRS.InboundAnomalyThreshold; n > 0 {
		vars = append(vars, "tx.inbound_anomaly_score_threshold="+strconv.Itoa(n))
	}
	if n := c.CRS.OutboundAnomalyThreshold; n > 0 {
		vars = append(vars, "tx.outbound_anomaly_score_threshold="+strconv.Itoa(n))
	}
	return "SecAction \"id:900990,phase:1,pass,t:none,nolog,setvar:" + strings.Join(vars, ",setvar:") + "\"\n"
}

// exclusions removes rules: everywhere at compile time, under paths at run
// time, before the rules run.
func exclusions(c *Config) (always, under string) {
	var a, u strings.Builder
	id := exclusionID
	for _, x := range c.Exclusions {
		if len(x.Paths) == 0 {
			for _, r := range x.IDs {
				fmt.Fprintf(&a, "SecRuleRemoveById %d\n", r)
			}
			for _, t := range x.Tags {
				fmt.Fprintf(&a, "SecRuleRemoveByTag %q\n", t)
			}
			continue
		}
		var ctl []string
		for _, r := range x.IDs {
			ctl = append(ctl, "ctl:ruleRemoveById="+strconv.Itoa(r))
		}
		for _, t := range x.Tags {
			ctl = append(ctl, "ctl:ruleRemoveByTag="+t)
		}
		for _, p := range x.Paths {
			fmt.Fprintf(&u, "SecRule REQUEST_FILENAME \"@beginsWith %s\" \"id:%d,phase:1,pass,nolog,t:none,%s\"\n", p, id, strings.Join(ctl, ","))
			id++
		}
	}
	return a.String(), u.String()
}
