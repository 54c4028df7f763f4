package upstream

import (
	"slices"
	"strconv"
)

// Consistent hashing puts virtual nodes for every endpoint on a 64-bit ring. A
// key goes to the first node clockwise of its hash; unhealthy endpoints are
// skipped by walking on. Node positions depend only on the endpoint address and
// the node's index, so adding or removing one endpoint moves only the keys on
// its own arcs (about 1/N of them), and every Pylon node agrees on the mapping.

const (
	// vnodesPerWeight virtual nodes per unit of weight keep the load spread
	// within a few percent across endpoints.
	vnodesPerWeight = 160
	// maxRingSize bounds memory and build time for large or heavily weighted
	// pools; weights are scaled down proportionally above it.
	maxRingSize = 1 << 18
)

type ringNode struct {
	hash uint64
	idx  int32 // index into snapshot.eps
}

type ring []ringNode

func buildRing(eps []*Endpoint, weights []int32) ring {
	total := 0
	for _, w := range weights {
		total += int(w) * vnodesPerWeight
	}
	scale := 1.0
	if total > maxRingSize {
		scale = float64(maxRingSize) / float64(total)
	}
	r := make(ring, 0, min(total, maxRingSize+len(eps)*vnodesPerWeight))
	buf := make([]byte, 0, 64)
	for i, e := range eps {
		n := max(int(float64(int(weights[i])*vnodesPerWeight)*scale), 16)
		for v := range n {
			buf = strconv.AppendInt(append(append(buf[:0], e.addr...), '#'), int64(v), 10)
			r = append(r, ringNode{hash: hashBytes(buf), idx: int32(i)})
		}
	}
	slices.SortFunc(r, func(a, b ringNode) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return int(a.idx - b.idx) // ties: deterministic across builds
	})
	return r
}

// search returns the index of the first node at or after h, wrapping to 0.
func (r ring) search(h uint64) int {
	lo, hi := 0, len(r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r[m].hash < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(r) {
		return 0
	}
	return lo
}

// hashBytes is FNV-1a followed by a 64-bit finalizer. FNV alone clusters
// similar strings ("10.0.0.1:80#1", "#2", ...) on the ring; the finalizer
// spreads them. It is fixed, not seeded, so all nodes hash alike.
func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
