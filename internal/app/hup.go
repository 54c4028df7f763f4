package app

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"pylon.io/pylon/internal/source/file"
)

// confirmOnHUP makes SIGHUP re-read the config files and apply them as they
// are, including an edit the file source's delete guard held back. Without
// a config file there is nothing to re-read, and SIGHUP is only logged (it
// no longer ends the process). The returned func stops listening.
func confirmOnHUP(src *file.Source, log *slog.Logger) func() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if src == nil {
					log.Info("SIGHUP: no config files to re-read")
					continue
				}
				log.Info("SIGHUP: re-reading the config files and applying them as they are")
				src.Confirm()
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
