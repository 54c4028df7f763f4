package cli

import "runtime/debug"

// Version is set at build time with -ldflags "-X pylon.io/pylon/internal/cli.Version=…".
// Left at "dev", the version Go stamped into the binary is used.
var Version = "dev"

// version is this binary's version: what `pylon version` prints and what
// the node reports in /api/v1/nodes and its cluster record, from one place
// so the two cannot disagree. It is Version when set at build time, else
// the module version in the build info (a tag, or a pseudo-version from the
// VCS revision: `go install …@v1.2.3`, `go build` in a checkout), else "dev".
func version() string {
	if Version != "dev" && Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
