// Package waf is the waf plugin: a web application firewall on the Coraza
// engine, in the gateway's process, with the OWASP Core Rule Set bundled.
// It inspects the request (headers, then the body up to a limit) before
// the request goes upstream, and optionally the response.
package waf

import (
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"

	"pylon.io/pylon/internal/plugin"
)

func init() {
	plugin.Register("waf", "Web application firewall: the OWASP Core Rule Set and SecLang rules, on the Coraza engine", build)
}

// WAF is one waf instance.
type WAF struct {
	waf        coraza.WAF
	opts       experimental.WAFWithOptions
	detect     bool
	inspectReq bool
	reqLimit   int
	respBody   bool
	logOff     bool

	blocked, detected, tooLarge, failed *plugin.Counter
	rules                               *ruleCounters
}

var (
	_ plugin.AccessHandler   = (*WAF)(nil)
	_ plugin.ResponseHandler = (*WAF)(nil)
	_ plugin.BodyHandler     = (*WAF)(nil)
	_ plugin.LogHandler      = (*WAF)(nil)
)

// validateRules compiles the rules (once per config: see rulesFor), so a
// bad rule is refused with the object that carries it.
func (c *Config) validateRules() error {
	c.rules = rulesFor(c)
	return c.rules.err
}

func build(cfg *Config, env *plugin.Env) (*WAF, error) {
	rs := cfg.rules
	if rs == nil {
		rs = rulesFor(cfg)
	}
	if rs.err != nil {
		return nil, rs.err
	}
	w := &WAF{waf: rs.waf, detect: cfg.Mode == "detect", inspectReq: cfg.inspectRequestBody(),
		reqLimit: cfg.RequestBody.Limit, respBody: cfg.ResponseBody.Inspect, rules: ruleMetrics()}
	w.opts, _ = rs.waf.(experimental.WAFWithOptions)
	log := slog.New(slog.DiscardHandler)
	if env != nil {
		env.OnClose(rs.acquire())
		w.blocked, w.detected = env.Counter("blocked"), env.Counter("detected")
		w.tooLarge, w.failed = env.Counter("body-too-large"), env.Counter("error")
		if env.Log != nil {
			log = env.Log
		}
	}
	if cfg.logMatches() {
		rs.matches.log.Store(log)
	}
	return w, nil
}

// Access runs the request phases of the rules: the connection and the
// request line, the headers, then the body. A disruptive match answers the
// request (403 unless the rule says otherwise) and nothing goes upstream.
func (w *WAF) Access(c plugin.Ctx, s *plugin.Slot) plugin.Action {
	var tx types.Transaction
	if w.opts != nil {
		tx = w.opts.NewTransactionWithOptions(experimental.Options{ID: string(c.RequestID())})
	} else {
		tx = w.waf.NewTransaction()
	}
	s.P = tx
	if tx.IsRuleEngineOff() {
		return plugin.Continue
	}
	tx.ProcessConnection(string(c.ClientIP()), 0, "", 0)
	tx.ProcessURI(string(c.RequestURI()), string(c.Method()), c.Proto())
	host := string(c.Host())
	sawHost := false
	c.VisitClientHeaders(func(name, value []byte) {
		if strings.EqualFold(string(name), "host") {
			sawHost = true
		}
		tx.AddRequestHeader(string(name), string(value))
	})
	if !sawHost && host != "" {
		tx.AddRequestHeader("Host", host)
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	tx.SetServerName(host)
	if it := tx.ProcessRequestHeaders(); it != nil {
		return w.interrupt(c, s, tx, it)
	}
	if w.inspectReq && tx.IsRequestBodyAccessible() && c.ContentLength() != 0 {
		body, complete, err := c.ReadBody(w.reqLimit)
		if err != nil {
			c.Respond(400, []byte("400 bad request: the body could not be read\n"))
			return plugin.Stop
		}
		if len(body) > 0 {
			it, _, err := tx.WriteRequestBody(body)
			if err != nil {
				w.failed.Inc()
				c.Respond(500, []byte("500 internal error\n"))
				return plugin.Stop
			}
			if it != nil {
				if it.Status == 413 {
					w.tooLarge.Inc()
				}
				return w.interrupt(c, s, tx, it)
			}
		}
		_ = complete // a longer body: the engine applied its limit action to what it got
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		w.failed.Inc()
		c.Respond(500, []byte("500 internal error\n"))
		return plugin.Stop
	}
	if it != nil {
		return w.interrupt(c, s, tx, it)
	}
	w.note(c, s, tx)
	return plugin.Continue
}

// note adds the rules matched since the last call to the access log's waf
// field and the metrics. The access log line is written before the log
// phase, so each phase notes its own matches. s.N counts the matches
// noted (above bit 0, which says the response body is replaced).
func (w *WAF) note(c plugin.Ctx, s *plugin.Slot, tx types.Transaction) {
	ms := tx.MatchedRules()
	for _, m := range ms[min(int(s.N>>1), len(ms)):] {
		if noted(m) {
			id := m.Rule().ID()
			c.NoteSecurity(strconv.Itoa(id))
			w.rules.inc(id)
		}
	}
	s.N = int64(len(ms))<<1 | s.N&1
}

// interrupt answers a disruptive match.
func (w *WAF) interrupt(c plugin.Ctx, s *plugin.Slot, tx types.Transaction, it *types.Interruption) plugin.Action {
	w.note(c, s, tx)
	status := it.Status
	if status == 0 {
		status = 403
	}
	w.blocked.Inc()
	switch it.Action {
	case "redirect":
		if it.Data != "" {
			c.SetResponseHeader("Location", it.Data)
			if status < 300 || status > 399 {
				status = 302
			}
		}
	case "drop":
		c.SetResponseHeader("Connection", "close")
	}
	c.Respond(status, []byte(strconv.Itoa(status)+" "+statusText(status)+"\n"))
	return plugin.Stop
}

// noted reports whether a match is worth the access log and the metrics:
// a rule that logs, other than the CRS's score report (a rule that only
// sets variables is nolog).
func noted(m types.MatchedRule) bool {
	if l, ok := m.(interface{ Log() bool }); ok && !l.Log() {
		return false
	}
	return m.Message() != "" && !slices.Contains(m.Rule().Tags(), "reporting")
}

func statusText(s int) string {
	switch s {
	case 400:
		return "bad request"
	case 403:
		return "forbidden"
	case 413:
		return "request body too large"
	}
	return "refused"
}

// Response runs the response-header phase: the status and headers the
// client will get. A disruptive match here replaces the answer.
func (w *WAF) Response(c plugin.Ctx, s *plugin.Slot) {
	tx, _ := s.P.(types.Transaction)
	if tx == nil || tx.IsRuleEngineOff() || tx.IsInterrupted() || c.Responded() {
		return
	}
	c.VisitResponseHeaders(func(name, value []byte) { tx.AddResponseHeader(string(name), string(value)) })
	it := tx.ProcessResponseHeaders(c.Status(), c.Proto())
	w.note(c, s, tx)
	if it != nil {
		w.blocked.Inc()
		status := it.Status
		if status == 0 {
			status = 403
		}
		c.SetStatus(status)
		c.DelResponseHeader("Content-Length")
		c.DelResponseHeader("Content-Encoding")
		c.SetResponseHeader("Content-Type", "text/plain; charset=utf-8")
		s.N |= 1 // the body is replaced
	}
}

// ResponseBody inspects the response body when response inspection is on,
// holding back up to the limit.
func (w *WAF) ResponseBody(c plugin.Ctx, s *plugin.Slot, out io.Writer) io.WriteCloser {
	tx, _ := s.P.(types.Transaction)
	if tx == nil {
		return nil
	}
	if s.N&1 == 1 {
		return &replaced{out: out}
	}
	if !w.respBody || tx.IsRuleEngineOff() || tx.IsInterrupted() || !tx.IsResponseBodyProcessable() {
		return nil
	}
	return &respInspector{w: w, tx: tx, out: out, c: c, s: s}
}

// Log runs the logging phase, counts and notes what matched, and ends the
// transaction.
func (w *WAF) Log(c plugin.Ctx, s *plugin.Slot, _ *plugin.Outcome) {
	tx, _ := s.P.(types.Transaction)
	if tx == nil {
		return
	}
	s.P = nil
	tx.ProcessLogging()
	w.note(c, s, tx) // the logging phase's own matches reach the metrics only
	if !tx.IsInterrupted() && slices.ContainsFunc(tx.MatchedRules(), noted) {
		w.detected.Inc()
	}
	_ = tx.Close()
}
