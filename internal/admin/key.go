package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyHashFile is the file in the data directory holding the SHA-256 of a
// generated key, in hex. The key itself is never written anywhere.
const KeyHashFile = "admin-key.sha256"

// MinKeyBytes is the shortest key accepted: a short key is guessed long
// before the failure limit makes guessing slow.
const MinKeyBytes = 16

// KeyOptions say where the admin key comes from. The first that is set
// wins: File (--admin-key-file), then Env ($PYLON_ADMIN_KEY), then the hash
// of a generated key in DataDir. An explicit flag beats the environment,
// as it does for the CLI's --key.
type KeyOptions struct {
	File    string
	Env     string
	DataDir string
	// Terminal opens the terminal a generated key is shown on, once. A key
	// is generated only if it can be shown there: printed into a log
	// stream it would be stored by whatever collects the logs, and a key
	// nobody saw would only lock the operator out. Nil means no terminal.
	Terminal func() (io.WriteCloser, error)
}

// LoadOrCreateKey finds the admin key's hash as o says. If there is no
// key yet, it generates a random 32-byte key (base64url), stores only its
// hash (mode 0600) and shows the key on o.Terminal.
func LoadOrCreateKey(o KeyOptions) (hash [32]byte, err error) {
	if o.File != "" {
		b, err := os.ReadFile(o.File)
		if err != nil {
			return hash, fmt.Errorf("admin: key file: %w", err)
		}
		return keyHash(strings.TrimSpace(string(b)), "the key in --admin-key-file "+o.File)
	}
	if k := strings.TrimSpace(o.Env); k != "" {
		return keyHash(k, "$PYLON_ADMIN_KEY")
	}
	if o.DataDir == "" {
		return hash, errors.New("admin: no key: pass --admin-key-file, set $PYLON_ADMIN_KEY or give a data directory")
	}
	path := filepath.Join(o.DataDir, KeyHashFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		h, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(h) != len(hash) {
			return hash, fmt.Errorf("admin: %s: want the 64 hex digits of a SHA-256 hash", path)
		}
		copy(hash[:], h)
		return hash, nil
	case !errors.Is(err, fs.ErrNotExist):
		return hash, fmt.Errorf("admin: key hash: %w", err)
	}
	return generateKey(o, path)
}

// keyHash checks a given key's length and hashes it; what names the key
// in the error.
func keyHash(k, what string) ([32]byte, error) {
	if k == "" {
		return [32]byte{}, fmt.Errorf("admin: %s is empty", what)
	}
	if len(k) < MinKeyBytes {
		return [32]byte{}, fmt.Errorf("admin: %s is %d bytes; a key needs at least %d (e.g. openssl rand -base64 32)", what, len(k), MinKeyBytes)
	}
	return sha256.Sum256([]byte(k)), nil
}

// generateKey makes a key, stores its hash at path and shows the key on
// the terminal; without a terminal it generates nothing.
func generateKey(o KeyOptions, path string) (hash [32]byte, err error) {
	var term io.WriteCloser
	if o.Terminal != nil {
		term, err = o.Terminal()
	}
	if term == nil {
		if err == nil {
			err = errors.New("none")
		}
		return hash, fmt.Errorf("admin: no key: pass --admin-key-file or set $PYLON_ADMIN_KEY "+
			"(a key is generated only where it can be shown once, on a terminal, and there is no terminal: %w), "+
			"or turn the admin API off with --admin-address off", err)
	}
	defer term.Close()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return hash, fmt.Errorf("admin: generate key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(raw)
	hash = sha256.Sum256([]byte(key))
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(hash[:])+"\n")); err != nil {
		return [32]byte{}, fmt.Errorf("admin: store key hash: %w", err)
	}
	if _, err := fmt.Fprintf(term, "\npylon: generated an admin API key (shown once; only its hash is kept, in %s):\n\n    %s\n\n", path, key); err != nil {
		// Unseen, the key would lock the operator out: keep no hash of it.
		os.Remove(path)
		return [32]byte{}, fmt.Errorf("admin: show the generated key: %w", err)
	}
	return hash, nil
}

// writeFileAtomic writes data to path with mode 0600 through a temporary file
// and a rename, so a crash never leaves a half-written hash (which would lock
// the operator out).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".admin-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, a no-op
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
