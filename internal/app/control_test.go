package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pylon.io/pylon/internal/dataplane/compile"
	storesource "pylon.io/pylon/internal/source/store"
	"pylon.io/pylon/internal/store/bolt"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/test/testenv"
)

// TestFailedOpenControlClosesWhatItOpened: a start that fails after the
// store is open (here: the admin key file is missing) must close the stores
// and caches it opened. A bbolt file left open stays locked, so the next
// start in the same data dir would fail with "in use by another process";
// each file is opened again here to prove it is free.
func TestFailedOpenControlClosesWhatItOpened(t *testing.T) {
	etcd := testenv.StartEtcd(t, testenv.WithoutFsync())
	etcdStore := "etcd://" + strings.TrimPrefix(etcd.Endpoint(), "http://")
	for _, tc := range []struct {
		name  string
		store string
		files []string // in the data dir, free again after the failure
	}{
		{"bbolt", "", []string{"pylon.db"}},
		{"etcd", etcdStore, []string{"etcd-cache.db", "etcd-kubernetes-cache.db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			o := ControlOptions{DataDir: dir, Store: tc.store, AdminAddress: "127.0.0.1:0", AdminKeyFile: filepath.Join(dir, "missing-key")}
			comp := compile.New(compile.Deps{Log: log})
			ctl, err := openControl(context.Background(), o, controlDeps{compiler: comp, metrics: telemetry.NewMetrics(), log: log})
			if err == nil || !strings.Contains(err.Error(), "key file") {
				ctl.close()
				t.Fatalf("openControl: got %v, want the missing key file's error", err)
			}
			for _, f := range tc.files {
				path := filepath.Join(dir, f)
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("%s was never opened, so this case proves nothing: %v", f, err)
				}
				if f == "pylon.db" {
					st, err := bolt.Open(path)
					if err != nil {
						t.Fatalf("%s still open after the failed start: %v", f, err)
					}
					st.Close()
					continue
				}
				c, err := storesource.OpenCache(path, log)
				if err != nil {
					t.Fatalf("%s still open after the failed start: %v", f, err)
				}
				c.Close()
			}
		})
	}
}
