package app

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"pylon.io/pylon/internal/source/file"
)

// confirmOnHUP makes SIGHUP re-read the config files (the discovery list
// among them) and apply them as they are, including an edit the file
// source's delete guard held back. Without a config file there is nothing
// to re-read, and SIGHUP is only logged (it no longer ends the process).
// The returned func stops listening.
func confirmOnHUP(src *file.Source, log *slog.Logger) func() {
	return onSignal(syscall.SIGHUP, func() {
		if src == nil {
			log.Info("SIGHUP: no config files to re-read")
			return
		}
		log.Info("SIGHUP: re-reading the config files and applying them as they are")
		src.Confirm()
	})
}

// onSignal runs fn, one call at a time, each time sig arrives, until the
// returned func stops listening.
func onSignal(sig os.Signal, fn func()) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ch:
				fn()
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
