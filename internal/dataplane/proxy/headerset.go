package proxy

// headerSet marks which of the headers the upstream preparation removes
// (hopHeaders, then ownedHeaders, then traceHeaders) a request may hold. The HTTP/1.1 engine
// learns it from the one pass over the header block that checkFastRequest
// makes anyway, so the preparation deletes only what is there: each delete
// from fasthttp's header copies and normalizes the name and scans every
// field, and a dozen of them for headers a request rarely has cost more
// than the rest of the preparation.
//
// The context keeps the complement, the headers known to be absent
// (Ctx.absent), so that its zero value, that of an engine which does not
// track presence, removes everything. Any step that may add headers after
// that pass (a plugin) empties it again.
type headerSet uint32

// allHeaders is the set of an engine that does not track presence, or of a
// request whose header changed since it was read: every removal runs.
// Its width is checked by a test against hopHeaders, ownedHeaders and
// traceHeaders.
const allHeaders headerSet = 1<<21 - 1

func (s headerSet) has(bit headerSet) bool { return s&bit != 0 }

// hopBit, ownedBit and traceBit are the bits of hopHeaders[i],
// ownedHeaders[i] and traceHeaders[i].
func hopBit(i int) headerSet   { return 1 << i }
func ownedBit(i int) headerSet { return 1 << (len(hopHeaders) + i) }
func traceBit(i int) headerSet { return 1 << (len(hopHeaders) + len(ownedHeaders) + i) }

// hopTransferEncoding is the index of Transfer-Encoding in hopHeaders.
const hopTransferEncoding = 7

// stripBit returns the bit of a header name the preparation removes, or 0.
// Names compare without regard to case, as header names do.
func stripBit(name []byte) headerSet {
	// The first byte rules out most names at once: every name here starts
	// with B, C, K, P, T, U or X.
	if len(name) == 0 {
		return 0
	}
	switch name[0] | 0x20 {
	case 'c', 'k', 'p', 'u':
		return hopOf(name)
	case 't':
		if b := hopOf(name); b != 0 {
			return b
		}
		return traceOf(name)
	case 'b':
		return traceOf(name)
	case 'x':
		for i, h := range ownedHeaders {
			if equalFoldCanon(name, h) {
				return ownedBit(i)
			}
		}
		return traceOf(name)
	}
	return 0
}

func hopOf(name []byte) headerSet {
	for i, h := range hopHeaders {
		if equalFoldCanon(name, h) {
			return hopBit(i)
		}
	}
	return 0
}

func traceOf(name []byte) headerSet {
	for i, h := range traceHeaders {
		if equalFoldCanon(name, h) {
			return traceBit(i)
		}
	}
	return 0
}

// equalFoldCanon compares b with name, an ASCII header name, ignoring case.
func equalFoldCanon(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i, c := range b {
		if c|0x20 != name[i]|0x20 {
			return false
		}
	}
	return true
}

// mayHold reports whether the request may hold the header of bit.
func (c *Ctx) mayHold(bit headerSet) bool { return c.absent&bit == 0 }
