package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	h, gen, err := LoadOrCreateKey(dir, "", "")
	if err != nil || len(gen) != 43 { // 32 bytes, base64url without padding
		t.Fatalf("generate: %q %v", gen, err)
	}
	if h != sha256.Sum256([]byte(gen)) {
		t.Fatal("hash is not the key's")
	}
	path := filepath.Join(dir, KeyHashFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != hex.EncodeToString(h[:]) || strings.Contains(string(b), gen) {
		t.Fatalf("file holds %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	// Next start: the hash is read back, nothing is generated.
	h2, gen2, err := LoadOrCreateKey(dir, "", "")
	if err != nil || gen2 != "" || h2 != h {
		t.Fatalf("reload: %q %v", gen2, err)
	}

	// The environment wins over everything; then the key file.
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("  file-key\n"), 0o600)
	if h, gen, err := LoadOrCreateKey(dir, keyFile, "env-key"); err != nil || gen != "" || h != sha256.Sum256([]byte("env-key")) {
		t.Errorf("env: %v", err)
	}
	if h, gen, err := LoadOrCreateKey(dir, keyFile, ""); err != nil || gen != "" || h != sha256.Sum256([]byte("file-key")) {
		t.Errorf("key file: %v", err)
	}

	for name, tc := range map[string]struct{ dir, file string }{
		"missing key file": {dir, filepath.Join(dir, "nope")},
		"no data dir":      {"", ""},
	} {
		if _, _, err := LoadOrCreateKey(tc.dir, tc.file, ""); err == nil || !strings.HasPrefix(err.Error(), "admin: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	os.WriteFile(keyFile, []byte("\n"), 0o600)
	if _, _, err := LoadOrCreateKey(dir, keyFile, ""); err == nil {
		t.Error("empty key file accepted")
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, KeyHashFile), []byte("xyz"), 0o600)
	if _, _, err := LoadOrCreateKey(bad, "", ""); err == nil {
		t.Error("corrupt hash accepted")
	}
}
