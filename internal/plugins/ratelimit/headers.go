package ratelimit

import (
	"strconv"
	"sync"

	"pylon.io/pylon/internal/plugin"
)

// smallNums holds the decimal strings of 0..9999, made once on first use,
// so the RateLimit headers of nearly every response cost no allocation:
// header values are strings, and strconv allocates for numbers above 99.
var smallNums = sync.OnceValue(func() []string {
	s := make([]string, 10000)
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
})

func itoa(n int64) string {
	if n >= 0 && n < 10000 {
		return smallNums()[n]
	}
	return strconv.FormatInt(n, 10)
}

// seconds rounds ns up to whole seconds, as the RateLimit headers count.
func seconds(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return (ns + 1e9 - 1) / 1e9
}

// setHeaders adds the RateLimit headers for d (IETF draft
// ratelimit-headers): the limit, what is left of it, and the seconds until
// it is whole again; on a refusal also Retry-After.
func setHeaders(c plugin.Ctx, d *decision, retryAfter bool) {
	c.SetResponseHeader("RateLimit-Limit", d.limit)
	c.SetResponseHeader("RateLimit-Remaining", itoa(max(0, d.remaining)))
	c.SetResponseHeader("RateLimit-Reset", itoa(seconds(d.reset)))
	if retryAfter {
		c.SetResponseHeader("Retry-After", itoa(max(1, seconds(d.retry))))
	}
}
