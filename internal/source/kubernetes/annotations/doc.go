// Package annotations parses the ingress-nginx annotations Pylon understands,
// under both the nginx.ingress.kubernetes.io/ and the pylon.io/ prefixes
// (pylon.io/ wins when both are set), into a typed Config.
//
// Parsing is pure: a map of annotations in, a Config, one Note per
// annotation and an error out. The error joins every invalid value, each
// naming its annotation; the caller rejects the whole Ingress on it, so a
// typo never serves a half-configured route.
//
// Table lists every annotation with what Pylon does with it (honoured,
// approximated and how, unsupported, rejected). `pylon ingress check` and
// docs/kubernetes.md are generated from it, so what users read is what the
// translator does.
//
// Raw nginx snippets (configuration-snippet, server-snippet, and every other
// *-snippet) are refused: they inject nginx configuration text, the root of
// several ingress-nginx CVEs, and Pylon has no nginx to inject into. They are
// reported, never silently dropped.
package annotations
