package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyHashFile is the file in the data directory holding the SHA-256 of a
// generated key, in hex. The key itself is never written anywhere.
const KeyHashFile = "admin-key.sha256"

// LoadOrCreateKey finds the admin key's hash. envKey (PYLON_ADMIN_KEY) wins,
// then the contents of keyFile (trimmed), then <dataDir>/admin-key.sha256.
// If there is none, it generates a random 32-byte key (base64url), stores
// only its hash (mode 0600) and returns the key in generated, for the caller
// to print once; generated is empty otherwise.
func LoadOrCreateKey(dataDir, keyFile, envKey string) (hash [32]byte, generated string, err error) {
	if k := strings.TrimSpace(envKey); k != "" {
		return sha256.Sum256([]byte(k)), "", nil
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return hash, "", fmt.Errorf("admin: key file: %w", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return hash, "", fmt.Errorf("admin: key file %s is empty", keyFile)
		}
		return sha256.Sum256([]byte(k)), "", nil
	}
	if dataDir == "" {
		return hash, "", errors.New("admin: no key: set PYLON_ADMIN_KEY, a key file or a data directory")
	}
	path := filepath.Join(dataDir, KeyHashFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		h, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(h) != len(hash) {
			return hash, "", fmt.Errorf("admin: %s: want the 64 hex digits of a SHA-256 hash", path)
		}
		copy(hash[:], h)
		return hash, "", nil
	case !errors.Is(err, fs.ErrNotExist):
		return hash, "", fmt.Errorf("admin: key hash: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return hash, "", fmt.Errorf("admin: generate key: %w", err)
	}
	generated = base64.RawURLEncoding.EncodeToString(raw)
	hash = sha256.Sum256([]byte(generated))
	if err := writeFileAtomic(path, []byte(hex.EncodeToString(hash[:])+"\n")); err != nil {
		return [32]byte{}, "", fmt.Errorf("admin: store key hash: %w", err)
	}
	return hash, generated, nil
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
