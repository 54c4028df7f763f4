package app

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"pylon.io/pylon/internal/source/file"
)

// confirmOnHUP makes SIGHUP re-read the discovery list (see
// discoveryState.reload) and then the config files, applying them as they
// are, including an edit the file source's delete guard held back. Without
// a config file there is nothing to re-read, and SIGHUP is only logged (it
// no longer ends the process). The returned func stops listening.
func confirmOnHUP(src *file.Source, disc *discoveryState, log *slog.Logger) func() {
	return onSignal(syscall.SIGHUP, func() {
		// The discovery list first: services re-read next may name a
		// provider it adds.
		if err := disc.reload(); err != nil {
			log.Error("SIGHUP: discovery list not applied; the previous one stays", "error", err.Error())
		}
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
