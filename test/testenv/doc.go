// Package testenv gives Pylon's tests the real components they run against:
// paths of tools installed by hack/testenv.sh, free ports on 127.0.0.1, a
// freshly built pylon binary, and real processes that are stopped when the
// test ends.
//
// A test that needs a component asks for it with Tool. When CI is set in the
// environment, a component that cannot be had fails the test; elsewhere the
// test is skipped with the reason, so that `go test ./...` stays usable on a
// laptop without nginx or h2spec.
package testenv
