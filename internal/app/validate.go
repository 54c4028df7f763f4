package app

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/file"
)

// Validate checks a config file or directory without serving it: every
// object on its own, then references and conflicts across objects. It
// prints each problem with its file and line, sorted by file and line, and
// returns how many there were. An object with a problem of its own is still
// checked against the others as far as it could be read, so one mistake
// does not hide the next.
func Validate(path string, out io.Writer) int {
	entries, errs := file.LoadToCheck(path)
	if _, err := file.LoadTelemetry(path); err != nil {
		errs = append(errs, splitJoined(err)...) // each problem of the block on a line of its own
	}
	var ps []problem
	said := map[ir.Key]map[string]bool{} // what was reported of each object already
	for _, err := range errs {
		p := problem{msg: err.Error()}
		var e *file.Error
		if errors.As(err, &e) {
			p.file, p.line = e.File, e.Line
		}
		var fe *ir.FieldError
		if errors.As(err, &fe) && fe.Kind != "" {
			k := ir.Key{Kind: fe.Kind, Source: "file", Namespace: "default", Name: fe.Name}
			if said[k] == nil {
				said[k] = map[string]bool{}
			}
			said[k][fe.Error()] = true
		}
		ps = append(ps, p)
	}
	where := map[ir.Key]file.Entry{}
	ch := ir.Change{}
	for _, e := range entries {
		where[e.Object.Key] = e
		ch.Upserts = append(ch.Upserts, e.Object)
	}
	res := compile.New(compile.Deps{Log: slog.New(slog.DiscardHandler), Discovery: checkOnly{}}).Check(ch)
	for k, err := range res.Rejected {
		e := where[k]
		for _, fe := range ir.FieldErrors(err) {
			if said[k][fe.Error()] || (e.Partial && skipped(fe.Field, e.Skip)) {
				continue
			}
			line := file.FieldLine(e.File, e.Line, k.Kind, fe.Field)
			ps = append(ps, problem{file: e.File, line: line, msg: fmt.Sprintf("%s:%d: %s", e.File, line, fe.Error())})
		}
	}
	slices.SortStableFunc(ps, func(a, b problem) int {
		return cmp.Or(slices.Compare(strings.Split(a.file, string(filepath.Separator)), strings.Split(b.file, string(filepath.Separator))),
			cmp.Compare(a.line, b.line), cmp.Compare(a.msg, b.msg))
	})
	for _, p := range ps {
		fmt.Fprintln(out, p.msg)
	}
	return len(ps)
}

// problem is one line of validate's output.
type problem struct {
	file string
	line int
	msg  string
}

// skipped reports whether a problem of a partly read object comes from a
// field that could not be read (its own problem is reported already).
func skipped(field string, skip []string) bool {
	if field == "" {
		return len(skip) > 0
	}
	for _, s := range skip {
		if field == s || strings.HasPrefix(field, s+".") || strings.HasPrefix(field, s+"[") ||
			strings.HasPrefix(s, field+".") || strings.HasPrefix(s, field+"[") {
			return true
		}
	}
	return false
}

// splitJoined returns the errors an errors.Join holds, or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}
