package file

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// loop collects file events into debounced batches until ctx ends.
func (r *run) loop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var b *batch
	var deadline time.Time
	arm := func() {
		now := time.Now()
		if b == nil {
			b = &batch{first: now, dirty: map[string]bool{}}
			deadline = now.Add(r.maxDelay)
		}
		timer.Reset(min(r.quiet, deadline.Sub(now)))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-r.w.Events:
			if !ok {
				return errors.New("file: watcher closed")
			}
			if ev.Op == fsnotify.Chmod {
				continue // editors and backups touch modes; content did not change
			}
			arm()
			r.note(b, ev)
		case err, ok := <-r.w.Errors:
			if !ok {
				return errors.New("file: watcher closed")
			}
			r.log.Warn("file watch error", "error", err.Error())
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				arm()
				b.rescan, b.forceRefs = true, true
			}
		case <-timer.C:
			if b != nil {
				r.sync(b)
				b = nil
			}
		case <-r.confirm:
			// Read everything again, as it is now, and apply it whatever it
			// deletes. A burst being collected goes with it.
			if b == nil {
				b = &batch{first: time.Now(), dirty: map[string]bool{}}
			}
			timer.Stop()
			b.rescan, b.forceRefs, b.confirmed = true, true, true
			r.sync(b)
			b = nil
		}
	}
}

// note records what one event means for the batch.
func (r *run) note(b *batch, ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	for f := range r.st.refs[p] {
		b.mark(f, true) // a certificate, key or CA file changed
	}
	if strings.HasPrefix(filepath.Base(p), "..") {
		// A ConfigMap or Secret mount swapped its ..data symlink: any file
		// in this directory may now have new content.
		b.rescan = true
		dir := filepath.Dir(p)
		for ref, users := range r.st.refs {
			if filepath.Dir(ref) == dir {
				for f := range users {
					b.mark(f, true)
				}
			}
		}
		return
	}
	if !r.dir {
		if p == r.path {
			b.mark(p, false)
		}
		return
	}
	if r.watched[p] && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		delete(r.watched, p) // fsnotify drops the watch with the directory
		b.rescan = true
		return
	}
	if !r.inside(p) {
		return
	}
	if ev.Has(fsnotify.Create) {
		if st, err := os.Lstat(p); err == nil && st.IsDir() {
			// Files may have been written before the watch exists: rescan.
			r.watchTree(p)
			b.rescan = true
			return
		}
	}
	if configExt(p) {
		b.mark(p, false)
	}
}

// inside reports whether p is below the root directory and not hidden.
func (r *run) inside(p string) bool {
	rel, err := filepath.Rel(r.path, p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if hidden(part) {
			return false
		}
	}
	return true
}

func (r *run) watch(dir string) error {
	if r.watched[dir] {
		return nil
	}
	if err := r.w.Add(dir); err != nil {
		return err
	}
	r.watched[dir] = true
	return nil
}

// watchTree watches dir and every non-hidden directory below it; fsnotify
// does not recurse.
func (r *run) watchTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && hidden(d.Name()) {
			return filepath.SkipDir
		}
		if err := r.watch(p); err != nil && p == dir {
			return err
		}
		return nil
	})
}
