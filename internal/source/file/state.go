package file

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"pylon.io/pylon/internal/ir"
)

// state is what the files currently say and what was last applied. Every
// config file claims the keys of its objects; the first claim in file order
// wins and later ones are duplicates. Reloading one file touches only its
// own keys, so an edit costs O(that file), not O(config).
type state struct {
	read    func(string) ([]byte, error)
	files   map[string]*fileState
	claims  map[ir.Key][]*claim // sorted by file order, then position
	applied map[ir.Key]applied
	refs    map[string]map[string]bool // referenced PEM file → config files using it
	touched map[ir.Key]bool            // keys to look at in the next diff
	// all is set until the first diff: nothing was applied yet, so every
	// claimed key is to be looked at, and touched is not kept.
	all   bool
	dups  map[ir.Key][]error // standing duplicate-name problems, by key
	retry map[ir.Key]bool    // rejected by the sink: look again next time
	held  map[ir.Key]bool    // in a change held back (see hold): look again next time
}

type fileState struct {
	sum    uint64
	claims []*claim
	refs   []string
	// partial are the file's invalid objects as far as they could be read,
	// for LoadToCheck; there are few, and none in a config that serves well.
	partial []parsedObject
}

type claim struct {
	key  ir.Key
	file string
	pos  int
	line int
	obj  *ir.Object // nil: present but invalid, so the last good version stays
}

type applied struct {
	hash uint64
	file string
	line int
}

var seed = maphash.MakeSeed()

func newState(read func(string) ([]byte, error)) *state {
	return &state{
		read:    read,
		files:   map[string]*fileState{},
		claims:  map[ir.Key][]*claim{},
		applied: map[ir.Key]applied{},
		refs:    map[string]map[string]bool{},
		touched: map[ir.Key]bool{},
		dups:    map[ir.Key][]error{},
		retry:   map[ir.Key]bool{},
		held:    map[ir.Key]bool{},
		all:     true,
	}
}

// reload re-reads one config file. Unless force is set (a PEM file it uses
// changed), identical content is not parsed again. It returns the file's
// problems, and whether it looked at the content at all (false when it was
// unchanged).
func (s *state) reload(file string, force bool) ([]error, bool) {
	var prev *uint64
	if f := s.files[file]; f != nil {
		prev = &f.sum
	}
	return s.record(s.load(file, prev, force))
}

// loaded is a file read and parsed, not yet recorded in the state.
type loaded struct {
	file    string
	gone    bool    // deleted (or now a directory)
	readErr error   // unreadable for now
	same    bool    // unchanged since last time: not parsed
	sum     uint64  // hash of the content
	p       *parsed // nil unless parsed
}

// load reads and parses a file without touching the state, so that files
// can load concurrently. prev is the hash of the content last seen, if any.
func (s *state) load(file string, prev *uint64, force bool) loaded {
	data, err := s.read(file)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EISDIR) {
		return loaded{file: file, gone: true}
	}
	if err != nil {
		return loaded{file: file, readErr: err}
	}
	l := loaded{file: file, sum: maphash.Bytes(seed, data)}
	if prev != nil && *prev == l.sum && !force {
		l.same = true
		return l
	}
	p := parse(file, data, &resolver{dir: filepath.Dir(file), read: s.read})
	l.p = &p
	return l
}

// record applies a loaded file to the state; it returns what reload does.
func (s *state) record(l loaded) ([]error, bool) {
	file := l.file
	switch {
	case l.gone:
		s.remove(file)
		return nil, true
	case l.readErr != nil:
		// Unreadable for now (permissions, a half-swapped mount): keep what
		// it said before rather than deleting its objects.
		return []error{&Error{File: file, Err: fmt.Errorf("read: %w", l.readErr)}}, true
	case l.same:
		return nil, false
	}
	f := s.files[file]
	if f == nil {
		f = &fileState{}
		s.files[file] = f
	}
	f.sum = l.sum
	p := l.p
	if p.broken {
		return p.errs, true // a syntax error changes nothing
	}
	claims := make([]*claim, 0, len(p.objects))
	f.partial = nil
	for i, o := range p.objects {
		claims = append(claims, &claim{key: o.key, file: file, pos: i, line: o.line, obj: o.obj})
		if o.partial != nil {
			f.partial = append(f.partial, o)
		}
	}
	if !p.ok {
		// Some object could not be identified; it may be one that vanished
		// from the list, so keep every old claim not seen again.
		have := make(map[ir.Key]bool, len(p.objects))
		for _, o := range p.objects {
			have[o.key] = true
		}
		for _, c := range f.claims {
			if !have[c.key] {
				claims = append(claims, c)
			}
		}
	}
	s.setClaims(file, f, claims)
	s.setRefs(file, f, p.refs)
	return p.errs, true
}

// remove forgets a deleted file: its objects are deleted.
func (s *state) remove(file string) {
	f := s.files[file]
	if f == nil {
		return
	}
	s.setClaims(file, f, nil)
	s.setRefs(file, f, nil)
	delete(s.files, file)
}

func (s *state) setClaims(file string, f *fileState, claims []*claim) {
	if len(s.claims) == 0 && len(claims) > 1024 {
		// A first load: size the maps once, not by doubling (each doubling
		// rehashes and leaves the old table as garbage).
		s.claims = make(map[ir.Key][]*claim, len(claims))
	}
	for _, c := range f.claims {
		s.claims[c.key] = slices.DeleteFunc(s.claims[c.key], func(x *claim) bool { return x.file == file })
		if len(s.claims[c.key]) == 0 {
			delete(s.claims, c.key)
		}
		s.touch(c.key)
	}
	for _, c := range claims {
		cs := s.claims[c.key]
		i, _ := slices.BinarySearchFunc(cs, c, compareClaims)
		s.claims[c.key] = slices.Insert(cs, i, c)
		s.touch(c.key)
	}
	f.claims = claims
}

// touch marks a key to be looked at in the next diff.
func (s *state) touch(k ir.Key) {
	if !s.all {
		s.touched[k] = true
	}
}

func (s *state) setRefs(file string, f *fileState, refs []string) {
	for _, r := range f.refs {
		delete(s.refs[r], file)
		if len(s.refs[r]) == 0 {
			delete(s.refs, r)
		}
	}
	for _, r := range refs {
		if s.refs[r] == nil {
			s.refs[r] = map[string]bool{}
		}
		s.refs[r][file] = true
	}
	f.refs = refs
}

func compareClaims(a, b *claim) int {
	if c := compareFiles(a.file, b.file); c != 0 {
		return c
	}
	return a.pos - b.pos
}

// compareFiles orders paths the way a directory walk visits them: by path
// element, so "a/b.yaml" comes before "a.yaml" as it does in filepath.WalkDir.
func compareFiles(a, b string) int {
	return slices.Compare(strings.Split(a, string(filepath.Separator)), strings.Split(b, string(filepath.Separator)))
}

// diff turns the touched keys into a Change, and reports duplicates among them.
func (s *state) diff() (ir.Change, map[ir.Key]*claim, []error) {
	n := len(s.touched)
	if s.all {
		n = len(s.claims)
	}
	ch := ir.Change{Upserts: make([]ir.Object, 0, n)}
	var errs []error
	winners := make(map[ir.Key]*claim, n)
	for k := range s.retry {
		s.touched[k] = true
	}
	for k := range s.held {
		s.touched[k] = true
	}
	clear(s.held)
	keys := func(yield func(ir.Key, []*claim) bool) {
		if s.all {
			for k, cs := range s.claims {
				if !yield(k, cs) {
					return
				}
			}
			return
		}
		for k := range s.touched {
			if !yield(k, s.claims[k]) {
				return
			}
		}
	}
	for k, cs := range keys {
		delete(s.dups, k)
		// The sink refused k last time: send it even if it now reads as
		// what is live (a deleted file put back unchanged), so the sink
		// drops the refusal. commit marks it again if it is refused again.
		refused := s.retry[k]
		delete(s.retry, k)
		if len(cs) == 0 {
			if _, ok := s.applied[k]; ok {
				ch.Deletes = append(ch.Deletes, k)
			}
			continue
		}
		for _, c := range cs[1:] {
			e := &Error{File: c.file, Line: c.line, Err: fieldErr(k.Kind, k.Name, "",
				"duplicate %s name, first defined at %s:%d", k.Kind, cs[0].file, cs[0].line)}
			errs = append(errs, e)
			s.dups[k] = append(s.dups[k], e)
		}
		w := cs[0]
		if w.obj == nil {
			continue // invalid: its last good version keeps serving
		}
		if a, ok := s.applied[k]; ok && a.hash == w.obj.Hash && !refused {
			continue
		}
		ch.Upserts = append(ch.Upserts, *w.obj)
		winners[k] = w
	}
	clear(s.touched)
	s.all = false
	slices.SortFunc(ch.Upserts, func(a, b ir.Object) int { return compareKeys(a.Key, b.Key) })
	slices.SortFunc(ch.Deletes, func(a, b ir.Key) int { return compareKeys(b, a) })
	slices.SortFunc(errs, func(a, b error) int { return compareErrors(a.(*Error), b.(*Error)) })
	return ch, winners, errs
}

// commit records what the sink accepted. Rejected objects are looked at
// again in the next diff, so a route rejected for a missing service is
// re-sent once something else changes.
func (s *state) commit(ch ir.Change, winners map[ir.Key]*claim, res ir.Result) {
	if len(s.applied) == 0 && len(ch.Upserts) > 0 {
		s.applied = make(map[ir.Key]applied, len(ch.Upserts))
	}
	for _, o := range ch.Upserts {
		if _, bad := res.Rejected[o.Key]; bad {
			s.retry[o.Key] = true
			continue
		}
		w := winners[o.Key]
		s.applied[o.Key] = applied{hash: o.Hash, file: w.file, line: w.line}
	}
	for _, k := range ch.Deletes {
		if _, bad := res.Rejected[k]; bad {
			s.retry[k] = true
			continue
		}
		delete(s.applied, k)
	}
}

// hold puts back a change diff returned and the sink never saw: its keys
// are looked at again in the next diff, against whatever the files say then.
func (s *state) hold(ch ir.Change) {
	for _, o := range ch.Upserts {
		s.held[o.Key] = true
		if a, ok := s.applied[o.Key]; ok && a.hash == o.Hash {
			s.retry[o.Key] = true // a refused object re-sent unchanged: still to be re-sent
		}
	}
	for _, k := range ch.Deletes {
		s.held[k] = true
	}
}

// compareKeys orders keys as ir.Kinds applies them, then by name.
func compareKeys(a, b ir.Key) int {
	if c := kindRank(a.Kind) - kindRank(b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

func compareErrors(a, b *Error) int {
	if c := compareFiles(a.File, b.File); c != 0 {
		return c
	}
	return a.Line - b.Line
}

func kindRank(k ir.Kind) int {
	for i, x := range ir.Kinds {
		if x == k {
			return i
		}
	}
	return len(ir.Kinds)
}

// duplicates returns every standing duplicate-name problem, not only those
// of the last diff, sorted.
func (s *state) duplicates() []error {
	var out []error
	for _, es := range s.dups {
		out = append(out, es...)
	}
	slices.SortFunc(out, func(a, b error) int { return compareErrors(a.(*Error), b.(*Error)) })
	return out
}
