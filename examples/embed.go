// Package examples holds the bundled example configs.
package examples

import _ "embed"

// Quickstart is the config `pylon run` serves when no --config is given.
//
//go:embed quickstart.yaml
var Quickstart []byte
