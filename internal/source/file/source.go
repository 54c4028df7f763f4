package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"pylon.io/pylon/internal/ir"
)

// Sink is what the source feeds; the compile stage implements it.
type Sink interface {
	Apply(ir.Change) ir.Result
}

// Source loads a config file or directory and keeps the sink in step with it.
type Source struct {
	path  string
	log   *slog.Logger
	ready chan struct{}
	once  sync.Once

	// An editor's save is a burst of events (write, rename, chmod). Waiting
	// quiet after the last one merges the burst into one Change; maxDelay
	// bounds the wait so a steady stream of writes still goes live.
	quiet    time.Duration
	maxDelay time.Duration

	// deleteGuard is the share of the objects one edit may delete before it
	// is held back; see SetDeleteGuard. confirm carries Confirm's requests
	// to the watch loop.
	deleteGuard float64
	confirm     chan struct{}

	mu       sync.Mutex
	problems map[string][]error // config file → its current problems
	dups     []error
	held     error // the edit held back now, if any
}

// Problems returns the config problems that stand now (objects that could
// not be read, or duplicates), each naming file, line, object and field.
// Fixing a file clears its problems on the next load.
func (s *Source) Problems() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	files := make([]string, 0, len(s.problems))
	for f := range s.problems {
		files = append(files, f)
	}
	slices.SortFunc(files, compareFiles)
	var out []error
	for _, f := range files {
		out = append(out, s.problems[f]...)
	}
	out = append(out, s.dups...)
	if s.held != nil {
		out = append(out, s.held)
	}
	return out
}

func (s *Source) setProblems(file string, errs []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.problems == nil {
		s.problems = map[string][]error{}
	}
	if len(errs) == 0 {
		delete(s.problems, file)
		return
	}
	s.problems[file] = errs
}

// New returns a source for a file or a directory of files. A nil log means
// slog.Default().
func New(path string, log *slog.Logger) *Source {
	if log == nil {
		log = slog.Default()
	}
	return &Source{
		path:     filepath.Clean(path),
		log:      log.With("source", keySource),
		ready:    make(chan struct{}),
		quiet:    25 * time.Millisecond,
		maxDelay: 100 * time.Millisecond,

		deleteGuard: 1,
		confirm:     make(chan struct{}, 1),
	}
}

// Ready is closed after the first Change has been applied.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Run loads everything, sends one Change with all objects, then watches and
// sends only what changed, until ctx ends. It fails only if the path cannot be
// read or watched at the start; later problems are logged and the last good
// objects keep serving.
func (s *Source) Run(ctx context.Context, sink Sink) error {
	st, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file: watch: %w", err)
	}
	defer w.Close()
	r := &run{Source: s, sink: sink, w: w, dir: st.IsDir(), st: newState(os.ReadFile), watched: map[string]bool{}}
	// Watch before the first read, so an edit made while loading is not lost.
	if r.dir {
		err = r.watchTree(s.path)
	} else {
		// The parent, not the file: editors rename a new file over the old one
		// and ConfigMap mounts swap a symlink, and both replace the watched inode.
		err = r.watch(filepath.Dir(s.path))
	}
	if err != nil {
		return fmt.Errorf("file: watch: %w", err)
	}
	r.sync(&batch{first: time.Now(), rescan: true, dirty: map[string]bool{}, initial: true})
	s.once.Do(func() { close(s.ready) })
	return r.loop(ctx)
}

// run is the state of one Run; only its goroutine touches it.
type run struct {
	*Source
	sink    Sink
	w       *fsnotify.Watcher
	dir     bool // the path is a directory
	st      *state
	watched map[string]bool
}

// batch is one debounced burst of file events.
type batch struct {
	first     time.Time       // the burst's first event: Change.Event
	rescan    bool            // list the files again (directories changed, mounts swapped)
	forceRefs bool            // events were lost: re-read every PEM file too
	dirty     map[string]bool // config file → force (a PEM file it uses changed)
	initial   bool            // the first load: applied even when empty, never held back
	confirmed bool            // Confirm asked for it: a held-back edit is applied
}

func (b *batch) mark(file string, force bool) { b.dirty[file] = b.dirty[file] || force }

// sync reloads the files of b and applies what changed.
func (r *run) sync(b *batch) {
	st := r.st
	if b.rescan {
		r.rescan(b)
	}
	if b.forceRefs {
		for _, users := range st.refs {
			for f := range users {
				b.mark(f, true)
			}
		}
	}
	files := make([]string, 0, len(b.dirty))
	for f := range b.dirty {
		files = append(files, f)
	}
	slices.SortFunc(files, compareFiles)
	force := make([]bool, len(files))
	for i, f := range files {
		force[i] = b.dirty[f]
	}
	var errs []error
	st.reloadAll(files, force, func(f string, fe []error, looked bool) {
		if looked {
			r.setProblems(f, fe)
		}
		errs = append(errs, fe...)
		if fs := st.files[f]; fs != nil {
			for _, ref := range fs.refs {
				r.watch(filepath.Dir(ref)) // a missing directory is retried on the next reload
			}
		}
	})
	ch, winners, dups := st.diff()
	r.mu.Lock()
	r.dups = st.duplicates()
	r.mu.Unlock()
	for _, e := range append(errs, dups...) {
		r.logProblem(e)
	}
	if !b.initial && !b.confirmed && r.holdBack(ch) {
		return
	}
	r.release(ch)
	if len(ch.Upserts)+len(ch.Deletes) == 0 && !b.initial {
		return
	}
	ch.Event = b.first
	res := r.sink.Apply(ch)
	st.commit(ch, winners, res)
	for k, err := range res.Rejected {
		file, line := "", 0
		if w := winners[k]; w != nil {
			file, line = w.file, w.line
		} else if a, ok := st.applied[k]; ok {
			file, line = a.file, a.line
		}
		r.log.Error("object rejected", "file", file, "line", line, "object", k.String(), "error", err.Error())
	}
	r.log.Info("config applied", "upserts", len(ch.Upserts), "deletes", len(ch.Deletes),
		"rejected", len(res.Rejected), "files", len(files), "took", time.Since(b.first))
}

// rescan marks every listed config file dirty (unchanged content is skipped
// by its hash) and removes files that are gone.
func (r *run) rescan(b *batch) {
	if !r.dir {
		b.mark(r.path, false)
		return
	}
	files, err := listFiles(r.path)
	if err != nil {
		r.log.Error("config directory unreadable", "file", r.path, "error", err.Error())
		if !errors.Is(err, os.ErrNotExist) {
			return
		}
	}
	listed := make(map[string]bool, len(files))
	for _, f := range files {
		listed[f] = true
		b.mark(f, false)
	}
	for f := range r.st.files {
		if !listed[f] {
			r.st.remove(f)
			r.setProblems(f, nil)
		}
	}
}

// logProblem logs one config problem on one line, with the object's key when
// the problem belongs to an object.
func (r *run) logProblem(err error) {
	var e *Error
	if !errors.As(err, &e) {
		r.log.Error("config problem", "error", err.Error())
		return
	}
	attrs := []any{"file", e.File, "line", e.Line}
	var fe *ir.FieldError
	if errors.As(e.Err, &fe) && fe.Kind != "" {
		attrs = append(attrs, "object", objectKey(fe.Kind, fe.Name).String())
	}
	r.log.Error("config problem", append(attrs, "error", e.Err.Error())...)
}
