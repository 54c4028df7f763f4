// Package e2e holds Pylon's end-to-end tests: each test writes a config into
// its own temp dir, starts the real pylon binary on free 127.0.0.1 ports in
// front of real backends (package backends), and asserts what a client sees.
package e2e
