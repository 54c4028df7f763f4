package ratelimit

import (
	"context"
	"time"
)

// Reserving ahead. A key reserved for in one window is likely hot in the
// next, and a hot key's first requests in a window are where credit can
// overshoot: every node admits on credit at once while the quota goes fast.
// So shortly before a window starts (2 × syncInterval, at most half a
// period), the syncer reserves each hot key's first chunk of the next
// window. At the boundary such a key already holds a reservation and needs
// no credit; only keys new to this node in a window still use credit.

// markHot puts e on the list of keys reserved for in window win. Syncer
// only.
func (y *syncer) markHot(e *gEntry, win int64) {
	if y.hotWin != win {
		if win < y.hotWin {
			return // a late answer for an earlier window
		}
		clear(y.hot) // drop the pointers, so the list keeps no evicted entry alive
		y.hot, y.hotWin = y.hot[:0], win
	}
	if e.hotWin == win+1 {
		return
	}
	e.hotWin = win + 1
	y.hot = append(y.hot, e)
}

// untilAhead returns the time until the next reservation ahead.
func (y *syncer) untilAhead() time.Duration {
	now, period := wallFunc(), y.s.period
	at := (now/period+1)*period - int64(y.lead)
	if at <= now {
		at += period
	}
	return time.Duration(at - now)
}

// reserveAhead reserves the next window's first chunk for every hot key,
// in one pipeline.
func (y *syncer) reserveAhead() {
	s := y.s
	// The window after the hot list's; a timer that fired a little late
	// (a busy machine) still reserves for it, and the answer then counts
	// for the running window.
	target := y.hotWin + 1
	if s.degraded.Load() || len(y.hot) == 0 || wallFunc()/s.period > target {
		return
	}
	p := s.p.Load()
	ctx, cancel := context.WithTimeout(context.Background(), y.timeout)
	defer cancel()
	pipe := y.rdb.Pipeline()
	reqs := make([]pending, 0, len(y.hot))
	ttl := y.ttl.Milliseconds()
	for _, e := range y.hot {
		e.mu.Lock()
		done := e.next == target
		e.mu.Unlock()
		if done {
			continue
		}
		cmd := reserve.Eval(ctx, pipe, []string{y.redisKey(e, target)}, s.quota, p.chunk, ttl)
		reqs = append(reqs, pending{e, target, cmd})
	}
	if len(reqs) == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil && !isServerError(err) {
		y.down(err)
		return
	}
	for _, r := range reqs {
		vals, err := r.cmd.Int64Slice()
		if err != nil || len(vals) != 2 {
			y.ctr.errors.Inc()
			continue
		}
		r.e.mu.Lock()
		y.apply(r.e, r.win, vals[0], vals[1])
		r.e.mu.Unlock()
	}
}
