package ir

import "time"

// Object is a resource with its key and content hash, as a source hands it
// to the compile stage.
type Object struct {
	Key      Key
	Resource Resource
	Hash     uint64
}

// NewObject keys and hashes r for source/namespace.
func NewObject(source, namespace string, r Resource) Object {
	return Object{
		Key:      Key{Kind: r.ResourceKind(), Source: source, Namespace: namespace, Name: r.ResourceName()},
		Resource: r,
		Hash:     Hash(r),
	}
}

// Change is one batch of edits from a source. Event is when the source saw
// the edit (a file event, a watch notification), so the time to live can be
// measured end to end.
type Change struct {
	Upserts []Object
	Deletes []Key
	Event   time.Time
}

// Result says which objects of a Change were rejected and why. Rejected
// objects keep their last good version live; deletes that were refused keep
// the object.
type Result struct {
	Rejected map[Key]error
	// Revived are objects of any source that an earlier change had
	// rejected for want of another object (a missing service, a route in
	// the way) and that this change let in: they are live now although
	// their own source sent nothing.
	Revived []Key
}
