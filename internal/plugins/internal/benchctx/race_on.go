//go:build race

package benchctx

// RaceEnabled is true under -race: the race detector allocates on its own,
// so allocation tests skip then.
const RaceEnabled = true
