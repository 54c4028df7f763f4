package app

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"

	"pylon.io/pylon/internal/telemetry"
)

// accessLog is the access log and its file sinks, which SIGUSR1 reopens.
type accessLog struct {
	*telemetry.AccessLog
	mu    sync.Mutex // guards files
	files []*fileSink
}

// fileSink is a stream sink on a file that it can reopen.
type fileSink struct {
	*telemetry.StreamSink
	path string
	file *os.File // the open file; swapped only inside StreamSink.Redirect
}

func (f *fileSink) Close() error {
	err := f.StreamSink.Close()
	f.file.Close()
	return err
}

// accessFormat builds the access log's line format from the flags, or nil
// for the default JSON line. Errors name the flag.
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

// newAccessLog builds the access log from the flags: one sink, stdout or
// the file --access-log-path names.
func newAccessLog(o Options) (*accessLog, error) {
	format, err := accessFormat(o)
	if err != nil {
		return nil, err
	}
	sinks, files, err := flagSinks(o)
	if err != nil {
		return nil, err
	}
	a := &accessLog{AccessLog: telemetry.NewAccessLogTo(), files: files}
	if _, err := a.SetSinks(sinks); err != nil {
		return nil, err
	}
	a.SetFormat(format)
	a.SetEnabled(o.AccessLog)
	return a, nil
}

// flagSinks opens the sink --access-log-path names.
func flagSinks(o Options) ([]telemetry.Sink, []*fileSink, error) {
	if path := o.AccessLogPath; path == "" || path == "-" {
		return []telemetry.Sink{telemetry.NewStreamSink(os.Stdout)}, nil, nil
	}
	fs, err := openFileSink(o.AccessLogPath)
	if err != nil {
		return nil, nil, err
	}
	return []telemetry.Sink{fs}, []*fileSink{fs}, nil
}

func openFileSink(path string) (*fileSink, error) {
	f, err := openAccessFile(path)
	if err != nil {
		return nil, err
	}
	return &fileSink{StreamSink: telemetry.NewStreamSink(f), path: path, file: f}, nil
}

func openAccessFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// reopen opens the file again and writes the lines to come there, after
// the buffered ones went to the file it had open, which it closes:
// logrotate's move-then-signal.
func (f *fileSink) reopen() error {
	return f.Redirect(func() (io.Writer, error) {
		nf, err := openAccessFile(f.path)
		if err != nil {
			return nil, err
		}
		f.file.Close()
		f.file = nf
		return nf, nil
	})
}

// fileSinks returns the log's file sinks of the moment.
func (a *accessLog) fileSinks() []*fileSink {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.files
}

// setSinks swaps the log's sinks, then closes the old ones.
func (a *accessLog) setSinks(sinks []telemetry.Sink, files []*fileSink) error {
	a.mu.Lock()
	old, err := a.SetSinks(sinks)
	if err == nil {
		a.files = files
	}
	a.mu.Unlock()
	if err != nil {
		return err
	}
	// A request that loaded the old set just before the swap may still be
	// writing to it: a closed sink drops such a line rather than fail.
	for _, s := range old {
		s.Close()
	}
	return nil
}

// close flushes the log and closes its sinks.
func (a *accessLog) close() { a.Close() }

// reopenOnUSR1 makes SIGUSR1 reopen the access log's files. The returned
// func stops listening.
func reopenOnUSR1(a *accessLog, log *slog.Logger) func() {
	return onSignal(syscall.SIGUSR1, func() {
		files := a.fileSinks()
		if len(files) == 0 {
			log.Info("SIGUSR1: the access log writes to no file; nothing to reopen")
		}
		for _, f := range files {
			if err := f.reopen(); err != nil {
				log.Error("SIGUSR1: access log not reopened; it goes on to the file it had open", "path", f.path, "error", err.Error())
			} else {
				log.Info("SIGUSR1: access log reopened", "path", f.path)
			}
		}
	})
}
