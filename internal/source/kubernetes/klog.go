package kubernetes

import (
	"context"
	"log/slog"

	"k8s.io/klog/v2"
)

// routeClientLogs sends client-go's own log lines (klog: leader election,
// watch and event errors) through log, marked component=client-go. Left
// alone, klog writes plain text to stderr, among Pylon's JSON lines, and a
// log pipeline that parses one JSON object per line breaks on them. klog
// is global to the process, so the last logger given wins; a process has
// one.
func routeClientLogs(log *slog.Logger) {
	klog.SetSlogLogger(slog.New(infoAndUp{log.With("component", "client-go").Handler()}))
}

// infoAndUp passes records of level Info and above. klog's V(1) and higher
// come through slog as levels below Info: they are client-go's debugging
// output, which klog leaves out unless its -v asks for it, and Pylon's
// --log-level debug is meant for Pylon's own.
type infoAndUp struct{ h slog.Handler }

func (i infoAndUp) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && i.h.Enabled(ctx, l)
}

func (i infoAndUp) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		return nil
	}
	return i.h.Handle(ctx, r)
}

func (i infoAndUp) WithAttrs(as []slog.Attr) slog.Handler { return infoAndUp{i.h.WithAttrs(as)} }
func (i infoAndUp) WithGroup(name string) slog.Handler    { return infoAndUp{i.h.WithGroup(name)} }
