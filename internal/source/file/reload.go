package file

import (
	"runtime"
	"sync/atomic"
)

// reloadAll reloads files as reload does, in order, but reads and parses up
// to GOMAXPROCS of them at once: parsing touches no state and is most of the
// cost, so a directory of many files (one per tenant) loads on every core.
// Each file is recorded in the state in order as soon as it is parsed, and
// then reported to each with what reload returns.
func (s *state) reloadAll(files []string, force []bool, each func(file string, errs []error, looked bool)) {
	workers := min(runtime.GOMAXPROCS(0), len(files))
	if workers < 2 {
		for i, f := range files {
			errs, looked := s.reload(f, force[i])
			each(f, errs, looked)
		}
		return
	}
	// The workers read only these copies; record changes the state meanwhile.
	prev := make([]*uint64, len(files))
	for i, f := range files {
		if fs := s.files[f]; fs != nil {
			sum := fs.sum
			prev[i] = &sum
		}
	}
	slots := make([]chan loaded, len(files))
	for i := range slots {
		slots[i] = make(chan loaded, 1)
	}
	var next atomic.Int64
	for range workers {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				slots[i] <- s.load(files[i], prev[i], force[i])
			}
		}()
	}
	for i, f := range files {
		errs, looked := s.record(<-slots[i])
		each(f, errs, looked)
	}
}
