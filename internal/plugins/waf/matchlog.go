package waf

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/corazawaf/coraza/v3/types"
)

// matchLog writes the engine's match messages (one line per matched rule
// that logs, ModSecurity's error log format) to the gateway's log, under
// the logger of the instance built last with the rule set.
type matchLog struct {
	log atomic.Pointer[slog.Logger]
}

func (m *matchLog) write(r types.MatchedRule) {
	l := m.log.Load()
	if l == nil {
		return
	}
	lvl := slog.LevelInfo
	if r.Disruptive() {
		lvl = slog.LevelWarn
	}
	l.Log(context.Background(), lvl, r.ErrorLog(), "rule", r.Rule().ID(), "request_id", r.TransactionID())
}
