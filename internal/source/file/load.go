package file

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Load reads a file, or every *.yaml, *.yml and *.json file of a directory
// (recursively, in walk order, skipping dotfiles and Kubernetes ConfigMap
// "..data" internals). certFile, keyFile and caFile paths are resolved
// relative to the referencing file's directory into the inline PEM fields.
// A kind and name defined twice is an error at the later place (by file
// order, then position), naming both; the first one is kept.
func Load(path string) (entries []Entry, errs []error) {
	entries, errs, _ = load(path)
	return entries, errs
}

// LoadToCheck is Load for `pylon validate`: it also returns the objects
// that have problems of their own, as far as they could be read (Partial
// set, Skip naming the fields left out), so that what they reference and
// what references them can still be checked. None of them may be served.
func LoadToCheck(path string) (entries []Entry, errs []error) {
	entries, errs, s := load(path)
	if s == nil {
		return entries, errs
	}
	files := make([]string, 0, len(s.files))
	for f := range s.files {
		files = append(files, f)
	}
	slices.SortFunc(files, compareFiles)
	for _, f := range files {
		for _, o := range s.files[f].partial {
			if cs := s.claims[o.key]; len(cs) > 0 && cs[0].file == f && cs[0].line == o.line {
				entries = append(entries, Entry{Object: *o.partial, File: f, Line: o.line, Partial: true, Skip: o.skip})
			}
		}
	}
	return entries, errs
}

func load(path string) (entries []Entry, errs []error, _ *state) {
	files, err := listFiles(filepath.Clean(path))
	if err != nil {
		return nil, []error{err}, nil
	}
	s := newState(os.ReadFile)
	s.reloadAll(files, make([]bool, len(files)), func(_ string, fe []error, _ bool) {
		errs = append(errs, fe...)
	})
	_, _, dups := s.diff()
	errs = append(errs, dups...)
	for _, f := range files {
		fs := s.files[f]
		if fs == nil {
			continue
		}
		for _, c := range fs.claims {
			if c.obj != nil && s.claims[c.key][0] == c {
				entries = append(entries, Entry{Object: *c.obj, File: c.file, Line: c.line})
			}
		}
	}
	return entries, errs, s
}

// listFiles returns root if it is a file, or the config files under it in
// walk order.
func listFiles(root string) ([]string, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if !st.IsDir() {
		return []string{root}, nil
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // a subtree vanished or is unreadable: the rest still loads
		}
		if p == root {
			return nil
		}
		if hidden(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !configExt(p) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// ConfigMap mounts are symlinks into ..data; follow them to files only.
			if t, err := os.Stat(p); err != nil || !t.Mode().IsRegular() {
				return nil
			}
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	slices.SortFunc(files, compareFiles)
	return files, nil
}

// hidden reports dotfiles, which includes Kubernetes' "..data" and
// "..2024_01_01..." directories behind a mounted ConfigMap.
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

func configExt(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
