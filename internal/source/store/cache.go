package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"pylon.io/pylon/internal/store"
)

// Cache keeps a node's last applied copy of a shared store (etcd) on local
// disk with the revision it reflects. A restarted node loads it and resumes
// the store's watch from that revision: it serves its last config at once,
// even with etcd away, and catches up with only what changed meanwhile.
type Cache struct {
	db     *bolt.DB
	log    *slog.Logger
	mu     sync.Mutex
	todo   []store.Event
	closed bool
	broken bool // a write failed: the copy has a hole and must not be resumed from
	wake   chan struct{}
	done   chan struct{}
}

var (
	cacheObjects = []byte("objects")
	cacheMeta    = []byte("meta")
	cacheRevKey  = []byte("revision")
)

// OpenCache opens (or creates) the cache file.
func OpenCache(path string, log *slog.Logger) (*Cache, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("store cache %s: %w", path, err)
	}
	c := &Cache{db: db, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go c.writer()
	return c, nil
}

// Revision returns the revision the cache reflects (0: empty).
func (c *Cache) Revision() int64 {
	var rev int64
	_ = c.db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(cacheMeta); m != nil {
			if v := m.Get(cacheRevKey); len(v) == 8 {
				rev = int64(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	return rev
}

// Load returns the cached records and their revision (0: empty cache).
func (c *Cache) Load() ([]store.Record, int64, error) {
	var recs []store.Record
	var rev int64
	err := c.db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(cacheMeta); m != nil {
			if v := m.Get(cacheRevKey); len(v) == 8 {
				rev = int64(binary.BigEndian.Uint64(v))
			}
		}
		b := tx.Bucket(cacheObjects)
		if b == nil || rev == 0 {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r store.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store cache: %w", err)
	}
	return recs, rev, nil
}

// Save queues an applied event; a background writer stores queued events in
// one transaction, so the cache never slows the apply path.
func (c *Cache) Save(ev store.Event) {
	c.mu.Lock()
	if c.closed || c.broken {
		c.mu.Unlock()
		return
	}
	c.todo = append(c.todo, ev)
	select { // under the lock: Close cannot close wake meanwhile
	case c.wake <- struct{}{}:
	default:
	}
	c.mu.Unlock()
}

func (c *Cache) writer() {
	defer close(c.done)
	for range c.wake {
		c.mu.Lock()
		evs := c.todo
		c.todo = nil
		c.mu.Unlock()
		if len(evs) == 0 {
			continue
		}
		if err := c.write(evs); err != nil {
			// A copy missing these events must not be resumed from: forget
			// its revision, so the next start lists the store in full.
			c.mu.Lock()
			c.broken = true
			c.mu.Unlock()
			c.log.Error("store cache write failed; the next start lists the store in full", "error", err.Error())
			_ = c.db.Update(func(tx *bolt.Tx) error {
				if m := tx.Bucket(cacheMeta); m != nil {
					return m.Delete(cacheRevKey)
				}
				return nil
			})
		}
	}
}

func (c *Cache) write(evs []store.Event) error {
	return c.db.Update(func(tx *bolt.Tx) error {
		for _, ev := range evs {
			if ev.Reset {
				if err := tx.DeleteBucket(cacheObjects); err != nil && err != bolt.ErrBucketNotFound {
					return err
				}
			}
			b, err := tx.CreateBucketIfNotExists(cacheObjects)
			if err != nil {
				return err
			}
			for _, r := range ev.Records {
				v, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if err := b.Put([]byte(r.Key.String()), v); err != nil {
					return err
				}
			}
			for _, k := range ev.Deletes {
				if err := b.Delete([]byte(k.String())); err != nil {
					return err
				}
			}
		}
		m, err := tx.CreateBucketIfNotExists(cacheMeta)
		if err != nil {
			return err
		}
		var rev [8]byte
		binary.BigEndian.PutUint64(rev[:], uint64(evs[len(evs)-1].Revision))
		return m.Put(cacheRevKey, rev[:])
	})
}

// Close flushes what is queued and closes the file.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.wake)
	<-c.done
	c.mu.Lock()
	evs, broken := c.todo, c.broken
	c.mu.Unlock()
	if len(evs) > 0 && !broken {
		_ = c.write(evs)
	}
	return c.db.Close()
}
