// Package plugins holds the built-in plugins, one package each, and their
// READMEs, whose field tables are the documentation of each plugin's config.
package plugins

import "embed"

// READMEs holds every built-in plugin's README, as DIR/README.md, where DIR
// is the plugin's name without its dashes ("rate-limit" is ratelimit).
//
//go:embed */README.md
var READMEs embed.FS
