package admin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// screen is a terminal that records what it was shown.
type screen struct {
	bytes.Buffer
	closed int
}

func (s *screen) Close() error { s.closed++; return nil }

func (s *screen) open() (io.WriteCloser, error) { return s, nil }

func noTerminal() (io.WriteCloser, error) { return nil, errors.New("no tty") }

var shownKey = regexp.MustCompile(`\n    ([A-Za-z0-9_-]{43})\n`)

// TestKeyPrecedence: --admin-key-file wins over $PYLON_ADMIN_KEY, which wins
// over a stored hash; keys shorter than 16 bytes are refused, naming where
// they came from.
func TestKeyPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := func(content string) string {
		p := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const fileKey, envKey = "file-key-0123456789", "env-key-0123456789"
	for _, tc := range []struct {
		name    string
		o       KeyOptions
		want    string // the key whose hash comes back
		wantErr string
	}{
		{name: "the file wins over the environment", o: KeyOptions{File: file("  " + fileKey + "\n"), Env: envKey, DataDir: dir}, want: fileKey},
		{name: "the environment without a file", o: KeyOptions{Env: envKey, DataDir: dir}, want: envKey},
		{name: "a short key file", o: KeyOptions{File: file("short-key\n"), Env: envKey}, wantErr: "is 9 bytes; a key needs at least 16"},
		{name: "a short environment key", o: KeyOptions{Env: "short"}, wantErr: "$PYLON_ADMIN_KEY is 5 bytes"},
		{name: "an empty key file", o: KeyOptions{File: file("\n"), Env: envKey}, wantErr: "is empty"},
		{name: "a missing key file", o: KeyOptions{File: filepath.Join(dir, "nope"), Env: envKey}, wantErr: "key file"},
		{name: "no key and no data dir", o: KeyOptions{}, wantErr: "no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := LoadOrCreateKey(tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "admin: ") || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || h != sha256.Sum256([]byte(tc.want)) {
				t.Fatalf("got %x %v, want the hash of %q", h[:4], err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a given key left files in the data dir: %v", entries)
	}
}

// TestGeneratedKey: without a key, one is generated and shown once on the
// terminal, and only its hash is kept; the next start reads the hash and
// shows nothing. Without a terminal nothing is generated: the start fails
// saying how to give a key.
func TestGeneratedKey(t *testing.T) {
	dir := t.TempDir()
	var scr screen
	h, err := LoadOrCreateKey(KeyOptions{DataDir: dir, Terminal: scr.open})
	m := shownKey.FindStringSubmatch(scr.String())
	if err != nil || m == nil || scr.closed != 1 {
		t.Fatalf("generate: %v, closed %d times, terminal shows %q", err, scr.closed, scr.String())
	}
	key := m[1]
	if h != sha256.Sum256([]byte(key)) || strings.Count(scr.String(), key) != 1 {
		t.Fatalf("the hash is not the shown key's, or the key is shown more than once: %q", scr.String())
	}
	path := filepath.Join(dir, KeyHashFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("hash file mode: %v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != hex.EncodeToString(h[:]) || strings.Contains(string(b), key) {
		t.Fatalf("hash file holds %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}

	var again screen
	if h2, err := LoadOrCreateKey(KeyOptions{DataDir: dir, Terminal: again.open}); err != nil || h2 != h || again.Len() != 0 {
		t.Fatalf("restart: %v, shown %q", err, again.String())
	}

	for _, term := range []func() (io.WriteCloser, error){nil, noTerminal} {
		empty := t.TempDir()
		_, err := LoadOrCreateKey(KeyOptions{DataDir: empty, Terminal: term})
		if err == nil || !strings.Contains(err.Error(), "--admin-key-file") || !strings.Contains(err.Error(), "no terminal") {
			t.Errorf("without a terminal: %v, want an error saying how to give a key", err)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("without a terminal, a hash was stored: %v", entries)
		}
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, KeyHashFile), []byte("xyz"), 0o600)
	if _, err := LoadOrCreateKey(KeyOptions{DataDir: bad, Terminal: scr.open}); err == nil {
		t.Error("corrupt hash accepted")
	}
}
