package file

import (
	"errors"
	"fmt"

	"pylon.io/pylon/internal/ir"
)

// A config file caught half-written (truncated by a tool that then writes
// it again, a copy that failed half way) reads as a config with most of its
// objects gone. Applied as it reads, it takes every route down within a
// debounce. So an edit that would delete too much is held back: nothing of
// it applies, the last good objects keep serving, and it is logged as an
// error and shown in /debug/config until the files are put back (the edit
// then simply never happened), edited further (judged again), or it is
// confirmed with Confirm (SIGHUP to pylon).

// SetDeleteGuard sets which edits are held back: those that would leave the
// config files with no objects while they had some, and, for a share below
// 1, those that would delete more than that share of the objects (0.5:
// more than half). A share of 0 or less turns the guard off. The default
// is 1. Call it before Run.
func (s *Source) SetDeleteGuard(share float64) { s.deleteGuard = share }

// Confirm re-reads every file and applies what it says now, including an
// edit held back by the delete guard. It does not wait.
func (s *Source) Confirm() {
	select {
	case s.confirm <- struct{}{}:
	default: // one is pending already: it will read the files as they are then
	}
}

// holdBack reports whether ch deletes too much to apply, and if so holds it
// back: its keys are looked at again on the next reload.
func (r *run) holdBack(ch ir.Change) bool {
	before := len(r.st.applied)
	if r.deleteGuard <= 0 || before == 0 || len(ch.Deletes) == 0 {
		return false
	}
	added := 0
	for _, o := range ch.Upserts {
		if _, ok := r.st.applied[o.Key]; !ok {
			added++
		}
	}
	left := before - len(ch.Deletes) + added
	var why string
	switch {
	case left <= 0:
		why = "it would leave the config with no objects"
	case r.deleteGuard < 1 && float64(len(ch.Deletes)) > r.deleteGuard*float64(before):
		why = fmt.Sprintf("it would delete more than %g%% of the objects", r.deleteGuard*100)
	default:
		return false
	}
	r.st.hold(ch)
	err := &Error{File: r.path, Err: fmt.Errorf("edit held back: %s (%d of %d deleted); if the files are being written, this clears when they are complete; to apply it, send SIGHUP to pylon; to drop it, restore the files", why, len(ch.Deletes), before)}
	r.mu.Lock()
	r.held = err
	r.mu.Unlock()
	r.log.Error("config edit held back", "file", r.path, "deletes", len(ch.Deletes), "objects", before,
		"reason", why, "confirm", "send SIGHUP to pylon to apply it, or restore the files")
	return true
}

// release clears a held-back edit once the files read as something that may
// apply: the held edit went live (confirmed), or was reverted or replaced.
func (r *run) release(ch ir.Change) {
	r.mu.Lock()
	was := r.held
	r.held = nil
	r.mu.Unlock()
	if was == nil {
		return
	}
	var e *Error
	errors.As(was, &e)
	r.log.Warn("config edit no longer held back", "file", e.File, "upserts", len(ch.Upserts), "deletes", len(ch.Deletes))
}
