package app

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"

	"pylon.io/pylon/internal/telemetry"
)

// accessLog is the access log and the file it writes to, if any.
type accessLog struct {
	*telemetry.AccessLog
	path string   // "" for stdout
	file *os.File // the open file; swapped only inside AccessLog.Redirect
}

// accessFormat builds the access log's line format from the options, or
// nil for the default JSON line. Errors name the flag.
func accessFormat(o Options) (*telemetry.AccessFormat, error) {
	var f *telemetry.AccessFormat
	var err error
	switch o.AccessLogFormat {
	case "", "json":
		if o.AccessLogTemplate != "" {
			return nil, fmt.Errorf("--access-log-template: only with --access-log-format text")
		}
		if len(o.AccessLogFields) == 0 && o.AccessLogSample == nil {
			return nil, nil
		}
		if f, err = telemetry.JSONAccessFormat(o.AccessLogFields); err != nil {
			return nil, fmt.Errorf("--access-log-fields: %w", err)
		}
	case "text":
		if len(o.AccessLogFields) > 0 {
			return nil, fmt.Errorf("--access-log-fields: only with --access-log-format json (a text line's fields are in --access-log-template)")
		}
		tmpl := o.AccessLogTemplate
		if tmpl == "" {
			tmpl = telemetry.DefaultTextTemplate
		}
		if f, err = telemetry.TextAccessFormat(tmpl); err != nil {
			return nil, fmt.Errorf("--access-log-template: %w", err)
		}
	default:
		return nil, fmt.Errorf("--access-log-format: must be json or text (got %q)", o.AccessLogFormat)
	}
	if o.AccessLogSample != nil {
		if f, err = f.WithSample(*o.AccessLogSample); err != nil {
			return nil, fmt.Errorf("--access-log-sample: %w", err)
		}
	}
	return f, nil
}

func openAccessLog(path string) (*accessLog, error) {
	if path == "" || path == "-" {
		return &accessLog{AccessLog: telemetry.NewAccessLog(os.Stdout)}, nil
	}
	f, err := openAccessFile(path)
	if err != nil {
		return nil, err
	}
	return &accessLog{AccessLog: telemetry.NewAccessLog(f), path: path, file: f}, nil
}

func openAccessFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// reopen opens the log's path again and writes the lines to come there,
// after the buffered ones went to the file it had open, which it closes:
// logrotate's move-then-signal. Without a file it does nothing.
func (a *accessLog) reopen() error {
	if a.path == "" {
		return nil
	}
	return a.Redirect(func() (io.Writer, error) {
		f, err := openAccessFile(a.path)
		if err != nil {
			return nil, err
		}
		a.file.Close()
		a.file = f
		return f, nil
	})
}

// close flushes the log and closes its file.
func (a *accessLog) close() {
	a.Close()
	if a.file != nil {
		a.file.Close()
	}
}

// reopenOnUSR1 makes SIGUSR1 reopen the access log's file. The returned
// func stops listening.
func reopenOnUSR1(a *accessLog, log *slog.Logger) func() {
	return onSignal(syscall.SIGUSR1, func() {
		switch err := a.reopen(); {
		case a.path == "":
			log.Info("SIGUSR1: the access log goes to stdout; nothing to reopen")
		case err != nil:
			log.Error("SIGUSR1: access log not reopened; it goes on to the file it had open", "path", a.path, "error", err.Error())
		default:
			log.Info("SIGUSR1: access log reopened", "path", a.path)
		}
	})
}
