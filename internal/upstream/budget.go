package upstream

import "sync/atomic"

// Retry budget defaults, as Envoy's: retries in flight may reach 20% of the
// requests in flight to the service, and at least 3 are always allowed so a
// quiet service can still retry.
const (
	DefaultRetryBudgetPercent = 20
	DefaultRetryBudgetMin     = 3
)

// RetryBudget bounds the retries in flight to one service, so that during
// an outage retries cannot multiply the load on it: a retry is allowed while
// the retries in flight stay under Percent of the requests in flight (or
// under Min). It lives in the pool, so its counts outlast config changes.
type RetryBudget struct {
	percent  atomic.Int32
	min      atomic.Int32
	active   atomic.Int64 // requests in flight to the service, first tries and retries
	retrying atomic.Int64 // of those, retries
	refused  atomic.Uint64
}

func (b *RetryBudget) set(percent, min int) {
	b.percent.Store(int32(percent))
	b.min.Store(int32(min))
}

// Begin records a request to the service; End must follow it.
func (b *RetryBudget) Begin() { b.active.Add(1) }

// End records that a request begun with Begin finished.
func (b *RetryBudget) End() { b.active.Add(-1) }

// Retry reports whether one more retry fits the budget and, if so, counts
// it until RetryDone.
func (b *RetryBudget) Retry() bool {
	limit := b.active.Load() * int64(b.percent.Load()) / 100
	if m := int64(b.min.Load()); limit < m {
		limit = m
	}
	if b.retrying.Add(1) > limit {
		b.retrying.Add(-1)
		b.refused.Add(1)
		return false
	}
	return true
}

// RetryDone ends a retry that Retry allowed.
func (b *RetryBudget) RetryDone() { b.retrying.Add(-1) }

// Refused counts the retries the budget did not allow.
func (b *RetryBudget) Refused() uint64 { return b.refused.Load() }
