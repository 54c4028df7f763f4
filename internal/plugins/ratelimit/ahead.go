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

// untilAhead returns the time until the next reservation ahead, and
// notes which window it is for.
func (y *syncer) untilAhead() time.Duration {
	now, period := wallFunc(), y.s.period
	y.aheadTarget = now/period + 1
	at := y.aheadTarget*period - int64(y.lead)
	if at <= now {
		y.aheadTarget++
		at += period
	}
	return time.Duration(at - now)
}

// reserveAhead reserves the next window's first chunk, in one pipeline, for
// every key reserved for in the current window and every key that used
// the chunk reserved ahead for it (a key too quiet to need a second chunk
// is still busy).
func (y *syncer) reserveAhead() {
	s := y.s
	target := y.aheadTarget
	// A timer that fired a little late (a busy machine) still reserves for
	// its window, and the answer then counts for the running one.
	if s.degraded.Load() || wallFunc()/s.period > target {
		return
	}
	var cands []*gEntry
	if y.hotWin == target-1 {
		cands = append(cands, y.hot...)
	}
	for _, e := range y.ahead {
		e.mu.Lock()
		used := e.win == target-1 && e.used > 0
		e.mu.Unlock()
		if used && e.hotWin != target {
			cands = append(cands, e)
		}
	}
	clear(y.ahead)
	y.ahead = y.ahead[:0]
	if len(cands) == 0 {
		return
	}
	p := s.p.Load()
	ctx, cancel := context.WithTimeout(context.Background(), y.timeout)
	defer cancel()
	pipe := y.rdb.Pipeline()
	reqs := make([]pending, 0, len(cands))
	ttl := y.ttl.Milliseconds()
	for _, e := range cands {
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
		y.ahead = append(y.ahead, r.e)
	}
}
