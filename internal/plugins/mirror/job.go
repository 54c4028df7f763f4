package mirror

import (
	"bytes"
	"sync"
)

// job is one request copy. Its buffers are reused from a pool, so copying a
// request does not allocate once the pool is warm.
type job struct {
	method, host, uri []byte
	// hdr holds header names and values back to back; ends[i] is where the
	// i-th name or value ends.
	hdr  []byte
	ends []int
	body []byte

	// skip is the mark header, left out when copying; visit is bound to
	// the job once, so passing it to VisitHeaders does not allocate.
	skip  []byte
	visit func(name, value []byte)
}

var jobs = sync.Pool{New: func() any {
	j := new(job)
	j.visit = func(name, value []byte) {
		if !skipHeader(name, j.skip) {
			j.addHeader(name, value)
		}
	}
	return j
}}

func getJob() *job { return jobs.Get().(*job) }

// maxKeep keeps one huge request from pinning its buffers in the pool.
const maxKeep = 1 << 20

func putJob(j *job) {
	if cap(j.body) > maxKeep || cap(j.hdr) > maxKeep {
		return
	}
	j.method, j.host, j.uri = j.method[:0], j.host[:0], j.uri[:0]
	j.hdr, j.ends, j.body = j.hdr[:0], j.ends[:0], j.body[:0]
	jobs.Put(j)
}

func (j *job) addHeader(name, value []byte) {
	j.hdr = append(j.hdr, name...)
	j.ends = append(j.ends, len(j.hdr))
	j.hdr = append(j.hdr, value...)
	j.ends = append(j.ends, len(j.hdr))
}

// eachHeader calls fn for every copied header.
func (j *job) eachHeader(fn func(name, value []byte)) {
	start := 0
	for i := 0; i+1 < len(j.ends); i += 2 {
		n, v := j.ends[i], j.ends[i+1]
		fn(j.hdr[start:n], j.hdr[n:v])
		start = v
	}
}

// hopByHop are the headers that describe one connection, not the request;
// Content-Length and Host are set from the copy itself.
var hopByHop = [][]byte{
	[]byte("Connection"), []byte("Keep-Alive"), []byte("Proxy-Connection"), []byte("TE"),
	[]byte("Trailer"), []byte("Transfer-Encoding"), []byte("Upgrade"), []byte("Content-Length"),
	[]byte("Host"), []byte("Expect"),
}

func skipHeader(name []byte, mark []byte) bool {
	if bytes.EqualFold(name, mark) {
		return true
	}
	for _, h := range hopByHop {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}
