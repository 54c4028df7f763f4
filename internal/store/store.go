// Package store is the durable home of objects written through the admin
// API: an embedded bbolt file for a single node (package store/bolt), or
// etcd shared by a fleet (package store/etcd). Both keep every object as its
// JSON under its key, with a revision that is its version for optimistic
// concurrency, and stream changes from a revision so nodes resume where
// they left off.
package store

import (
	"context"
	"errors"
	"fmt"

	"pylon.io/pylon/internal/ir"
)

// Record is one stored object.
type Record struct {
	Key      ir.Key // Source is always "api"
	Value    []byte // the object as JSON, same field names as the YAML files
	Revision int64  // revision of its last write: the object's version
}

// Expectation values for Op.Expect besides a revision (> 0).
const (
	Any     int64 = 0  // no check
	Missing int64 = -1 // the object must not exist (create)
)

// Op is one write in a Commit: a put, or a delete when Value is nil.
type Op struct {
	Key    ir.Key
	Value  []byte
	Expect int64 // Any, Missing, or the revision the object must still have
}

// Event is a batch of changes at one revision. Reset means the watcher lost
// history (compaction, a restart past the log): Records then holds every
// object and replaces all the watcher knew.
type Event struct {
	Revision int64
	Records  []Record // upserts
	Deletes  []ir.Key
	Reset    bool
}

// Status says whether the store is reachable and how far the node has read.
type Status struct {
	Synced   bool   // connected and watching
	Revision int64  // last revision seen
	Error    string // why not synced
}

// Store is what the admin API writes to and what the store source watches.
type Store interface {
	// Commit applies ops atomically; when it returns nil the write is
	// durable (fsynced, or committed by etcd's quorum). A failed Expect
	// returns a *ConflictError and writes nothing. The revision is 0 when
	// nothing changed (only deletes of missing objects).
	Commit(ctx context.Context, ops []Op) (revision int64, err error)
	// Get returns one object or ErrNotFound.
	Get(ctx context.Context, key ir.Key) (Record, error)
	// List returns up to limit objects of kind (0 = all) whose name sorts
	// after `after`, in name order, and the revision it read at.
	List(ctx context.Context, kind ir.Kind, after string, limit int) ([]Record, int64, error)
	// Watch streams changes after revision until ctx ends; the channel is
	// closed then. If the revision is no longer available the first event
	// is a Reset. While the store is unreachable nothing is sent; the
	// watch resumes by itself.
	Watch(ctx context.Context, revision int64) <-chan Event
	Status() Status
	Close() error
}

// ErrNotFound is returned for a missing object.
var ErrNotFound = errors.New("store: not found")

// ErrBatchTooLarge is returned when a Commit holds more operations than the
// store takes in one transaction (etcd's --max-txn-ops, 128 by default).
var ErrBatchTooLarge = errors.New("store: too many objects for one transaction")

// ConflictError is a failed optimistic-concurrency check.
type ConflictError struct {
	Key      ir.Key
	Expected int64 // what the writer expected (Missing for a create)
	Actual   int64 // what the store has (0 = missing)
}

func (e *ConflictError) Error() string {
	switch {
	case e.Expected == Missing:
		return fmt.Sprintf("store: %s %q already exists (version %d)", e.Key.Kind, e.Key.Name, e.Actual)
	case e.Actual == 0:
		return fmt.Sprintf("store: %s %q does not exist (expected version %d)", e.Key.Kind, e.Key.Name, e.Expected)
	}
	return fmt.Sprintf("store: %s %q is at version %d, not %d", e.Key.Kind, e.Key.Name, e.Actual, e.Expected)
}

// Source is the ir.Key source name of stored objects.
const Source = "api"
