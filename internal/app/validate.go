package app

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"pylon.io/pylon/internal/dataplane/compile"
	"pylon.io/pylon/internal/ir"
	"pylon.io/pylon/internal/source/file"
)

// Validate checks a config file or directory without serving it: every
// object on its own, then references and conflicts across objects. It
// prints each problem with its file and line and returns how many there were.
func Validate(path string, out io.Writer) int {
	entries, errs := file.Load(path)
	var msgs []string
	for _, err := range errs {
		msgs = append(msgs, err.Error())
	}
	where := map[ir.Key]file.Entry{}
	ch := ir.Change{}
	for _, e := range entries {
		where[e.Object.Key] = e
		ch.Upserts = append(ch.Upserts, e.Object)
	}
	res := compile.New(compile.Deps{Log: slog.New(slog.DiscardHandler)}).Check(ch)
	for k, err := range res.Rejected {
		e := where[k]
		for _, fe := range ir.FieldErrors(err) {
			msgs = append(msgs, fmt.Sprintf("%s:%d: %s", e.File, e.Line, fe.Error()))
		}
	}
	slices.Sort(msgs)
	for _, m := range msgs {
		fmt.Fprintln(out, m)
	}
	return len(msgs)
}
