package nacos

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	sdklogger "github.com/nacos-group/nacos-sdk-go/v2/common/logger"
	"golang.org/x/time/rate"
)

// The Nacos Go SDK logs through one logger for the whole process, to
// stderr until told otherwise (its NamingClient would point it at a file
// in the working directory). Each v2 provider points it at its own slog
// logger, so it is the most recently opened provider's logger that the
// SDK's messages go to. Only warnings and errors pass, as warnings, one
// line each (the SDK's errors can carry stack traces), at most one a
// second after a burst of ten: the SDK logs each retry while a server is
// down.

var sdkLog atomic.Pointer[slog.Logger]

var sdkLimit = rate.NewLimiter(1, 10)

func setSDKLogger(log *slog.Logger) {
	sdkLog.Store(log)
	sdklogger.SetLogger(sdkLogger{})
}

type sdkLogger struct{}

var _ sdklogger.Logger = sdkLogger{}

func (sdkLogger) warn(msg string) {
	log := sdkLog.Load()
	if log == nil || !sdkLimit.Allow() {
		return
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	log.Warn("nacos: sdk: " + strings.TrimSpace(msg))
}

func (l sdkLogger) Warn(args ...any)                  { l.warn(fmt.Sprint(args...)) }
func (l sdkLogger) Error(args ...any)                 { l.warn(fmt.Sprint(args...)) }
func (l sdkLogger) Warnf(format string, args ...any)  { l.warn(fmt.Sprintf(format, args...)) }
func (l sdkLogger) Errorf(format string, args ...any) { l.warn(fmt.Sprintf(format, args...)) }
func (sdkLogger) Info(...any)                         {}
func (sdkLogger) Debug(...any)                        {}
func (sdkLogger) Infof(string, ...any)                {}
func (sdkLogger) Debugf(string, ...any)               {}
