package telemetry

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// AccessEntry is one access log record. Fields read from the request are
// []byte because the HTTP/1.1 engine (fasthttp) hands them out as byte
// slices, and converting to string would allocate per request; fields that
// come from compiled config are strings that already exist. The entry is
// only read during Log, so callers may reuse it and the slices it points to
// afterwards.
type AccessEntry struct {
	Time           time.Time // when the request started; written in UTC
	RequestID      []byte
	ClientIP       netip.Addr
	Method         []byte
	Host           []byte
	Path           []byte
	Query          []byte // without "?"; only $request and the query field write it
	Protocol       []byte // e.g. "HTTP/1.1", "HTTP/2.0"
	Status         int
	BytesSent      int64
	Duration       time.Duration
	Route          string
	Service        string
	Upstream       string // the endpoint address, empty if none was picked
	UpstreamStatus int    // 0 if no upstream response was received
	UserAgent      []byte
	// Tries names each upstream try when there was more than one; the
	// client got the last real answer among them.
	Tries []UpstreamTry
	// Error says why the gateway answered itself, when it refused a request
	// before routing (a malformed request, one over a limit).
	Error string
}

// UpstreamTry is one try of a request to an endpoint: its status, or why
// it got none ("connect", "timeout", "reset", "client").
type UpstreamTry struct {
	Address string
	Status  int
	Failure string
}

// flushInterval bounds how stale the log on disk can be: a line is written
// out at most this long after the request ended.
const flushInterval = 100 * time.Millisecond

// maxPooledLine keeps one huge line (a long URL) from pinning a big buffer
// in the pool forever.
const maxPooledLine = 64 << 10

// AccessLog writes access log entries as JSON lines. Lines are built in
// pooled buffers outside any lock, then copied into one buffered writer.
type AccessLog struct {
	enabled atomic.Bool
	format  atomic.Pointer[AccessFormat] // nil: the default JSON line
	pool    sync.Pool                    // *[]byte

	mu     sync.Mutex // guards bw, err and closed
	bw     *bufio.Writer
	err    error // first write error, returned by Close
	closed bool

	stop chan struct{}
	done chan struct{}
}

// NewAccessLog returns an enabled access log writing to w, and starts the
// goroutine that flushes it every 100 ms. Close stops it. The log does not
// close w.
func NewAccessLog(w io.Writer) *AccessLog {
	l := &AccessLog{
		bw:   bufio.NewWriterSize(w, 64<<10),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	l.pool.New = func() any { b := make([]byte, 0, 1024); return &b }
	l.enabled.Store(true)
	go l.flushLoop()
	return l
}

// Enabled reports whether entries are written. Callers check it before
// filling an entry to skip the work when logging is off.
func (l *AccessLog) Enabled() bool { return l.enabled.Load() }

// SetFormat sets how lines are written from now on; nil is the default
// JSON line.
func (l *AccessLog) SetFormat(f *AccessFormat) { l.format.Store(f) }

// SetEnabled turns the log on or off at runtime.
func (l *AccessLog) SetEnabled(on bool) { l.enabled.Store(on) }

// Log writes one entry if the log is enabled. In steady state it does not
// allocate. A write error is kept for Close and later entries are dropped,
// because a request must never fail over its log line.
func (l *AccessLog) Log(e *AccessEntry) { l.log(e, -1) }

// LogSampled is Log with share (0-1) as the share of lines below 400 kept,
// instead of the format's (a route's own sampling).
func (l *AccessLog) LogSampled(e *AccessEntry, share float64) { l.log(e, share) }

func (l *AccessLog) log(e *AccessEntry, share float64) {
	if !l.enabled.Load() {
		return
	}
	f := l.format.Load()
	switch {
	case share >= 0:
		if !sampled(e, share) {
			return
		}
	case f != nil && !f.keep(e):
		return
	}
	bp := l.pool.Get().(*[]byte)
	var line []byte
	if f == nil {
		line = appendAccessEntry((*bp)[:0], e)
	} else {
		line = f.append((*bp)[:0], e)
	}
	l.mu.Lock()
	if !l.closed && l.err == nil {
		// Each write ends at a line's end: a line that does not fit goes
		// out after what is buffered, never split across two writes, so
		// another writer on the same stream cannot land inside it.
		if len(line) > l.bw.Available() && l.bw.Buffered() > 0 {
			l.err = l.bw.Flush()
		}
		if l.err == nil {
			_, l.err = l.bw.Write(line)
		}
	}
	l.mu.Unlock()
	if cap(line) <= maxPooledLine {
		*bp = line
		l.pool.Put(bp)
	}
}

// Redirect sends the lines to come to the writer open returns, for a log
// file that logrotate moved away: what is buffered goes to the old writer
// first, then open runs (it may close the old writer: nothing is written
// to it afterwards), and no line is lost or split between the two. If open
// fails the log keeps its old writer. A write error on the old writer is
// forgotten, so a log stopped by a full disk starts again on the new file.
func (l *AccessLog) Redirect(open func() (io.Writer, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("accesslog: closed")
	}
	if l.err == nil && l.bw.Buffered() > 0 {
		l.err = l.bw.Flush()
	}
	w, err := open()
	if err != nil {
		return err
	}
	l.bw.Reset(w)
	l.err = nil
	return nil
}

func (l *AccessLog) flushLoop() {
	defer close(l.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *AccessLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && l.bw.Buffered() > 0 {
		l.err = l.bw.Flush()
	}
}

// Close flushes what is buffered, stops the flusher and returns the first
// write error, if any. Entries logged after Close are dropped.
func (l *AccessLog) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errors.New("accesslog: already closed")
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return fmt.Errorf("accesslog: write: %w", l.err)
	}
	return nil
}

// appendAccessEntry appends e as one JSON object and a newline. Field order
// is fixed so that lines diff and grep well.
func appendAccessEntry(b []byte, e *AccessEntry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","request_id":`...)
	b = appendJSONString(b, e.RequestID)
	b = append(b, `,"client_ip":"`...)
	if e.ClientIP.IsValid() {
		// Without a zone the address is digits, dots, colons and hex only,
		// so it needs no escaping.
		b = e.ClientIP.WithZone("").AppendTo(b)
	}
	b = append(b, `","method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, e.Host)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.Path)
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, e.Protocol)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes_sent":`...)
	b = strconv.AppendInt(b, e.BytesSent, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.Duration)/float64(time.Millisecond), 'f', 3, 64)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, e.Route)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, e.Service)
	b = append(b, `,"upstream":`...)
	b = appendJSONString(b, e.Upstream)
	b = append(b, `,"upstream_status":`...)
	b = strconv.AppendInt(b, int64(e.UpstreamStatus), 10)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, e.UserAgent)
	if len(e.Tries) > 0 {
		b = appendTriesJSON(append(b, `,"upstream_tries":`...), e)
	}
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, e.Error)
	}
	return append(b, "}\n"...)
}
