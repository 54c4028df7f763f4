// Package file is Pylon's file source: it turns YAML (and JSON) config files
// into IR objects and watches them, so that an edit sends only the objects
// whose content changed.
//
// A file holds one or more YAML documents, each shaped like ir.Config. Every
// object is decoded and validated on its own, so one bad object never hides
// its siblings, and an object that becomes invalid keeps its last good
// version live instead of being deleted.
package file
