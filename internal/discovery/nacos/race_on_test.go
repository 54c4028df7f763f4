//go:build race

package nacos

// raceEnabled: the test runs under the race detector.
const raceEnabled = true
