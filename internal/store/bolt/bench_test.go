package bolt

import (
	"path/filepath"
	"testing"

	"pylon.io/pylon/internal/store/storetest"
)

// BenchmarkCommit measures fsynced single-object commits, one at a time.
func BenchmarkCommit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "pylon.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchCommit(b, s)
}
