// Package ir is Pylon's source-neutral configuration model: listeners, routes,
// services and certificates. Every source (files, the admin API, Kubernetes)
// produces these resources; the compile stage turns them into the data plane.
//
// Each resource validates itself (Validate) and has a content hash (Hash) so a
// re-sent object that did not change costs one comparison. Cross-object rules
// (unknown services, duplicate names, conflicting routes) belong to the compile
// stage, which sees all objects.
//
// This package imports nothing else of Pylon's.
package ir
