// Package bolt is the single-node store: one embedded bbolt file that holds
// every object written through the admin API. Each Commit is one bbolt
// write transaction, fsynced before it returns, and bumps a revision counter
// that stamps every record it writes.
//
// A single node keeps no change log: a watcher that asks for a revision
// older than the current one gets a Reset with the full state instead of the
// changes it missed.
package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"pylon.io/pylon/internal/store"
)

var (
	bucketMeta    = []byte("meta")
	bucketObjects = []byte("objects")
	keyRevision   = []byte("revision")
)

// Option changes how Open opens the store.
type Option func(*options)

type options struct {
	lockTimeout time.Duration
	watchQueue  int
}

// WithLockTimeout sets how long Open waits for another process to release
// the file before it gives up (default one second).
func WithLockTimeout(d time.Duration) Option { return func(o *options) { o.lockTimeout = d } }

// WithWatchQueue sets how many committed events a watcher may fall behind
// before it is sent a Reset instead (default 1024).
func WithWatchQueue(n int) Option { return func(o *options) { o.watchQueue = n } }

// Store is a store.Store in a bbolt file.
type Store struct {
	db   *bbolt.DB
	path string
	opts options

	commitMu sync.Mutex // orders commits with their broadcast

	mu       sync.Mutex // guards rev, watchers, closed
	rev      int64      // last committed revision
	watchers map[*watcher]struct{}
	closed   bool
	done     chan struct{} // closed by Close
	wg       sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the store file at path. It fails at once, after the
// lock timeout, when another process has the file open.
func Open(path string, opts ...Option) (*Store, error) {
	o := options{lockTimeout: time.Second, watchQueue: 1024}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.lockTimeout})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("store: data dir %s is in use by another process (%s is locked): %w", filepath.Dir(path), path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path, opts: o, watchers: map[*watcher]struct{}{}, done: make(chan struct{})}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketObjects); err != nil {
			return err
		}
		s.rev = readRevision(meta)
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// Status reports the store as synced: a local file is always reachable.
func (s *Store) Status() store.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return store.Status{Synced: true, Revision: s.rev}
}

// Close ends every watch and closes the file. Calling it again is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.wg.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

func readRevision(meta *bbolt.Bucket) int64 {
	v := meta.Get(keyRevision)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// encode prefixes the JSON with the revision that wrote it.
func encode(rev int64, value []byte) []byte {
	b := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(b, uint64(rev))
	copy(b[8:], value)
	return b
}

// decode splits a stored value; the returned JSON is a copy, safe after the
// transaction ends.
func decode(b []byte) (int64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, errors.New("value shorter than its revision")
	}
	return int64(binary.BigEndian.Uint64(b[:8])), append([]byte(nil), b[8:]...), nil
}
