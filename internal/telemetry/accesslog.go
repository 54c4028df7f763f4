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
	// UpstreamTime is how long the last try took, from sending the request
	// to the upstream's answer; 0 without a try that got one.
	UpstreamTime time.Duration
	// Consumer is the consumer an auth plugin identified, "" for none.
	Consumer  string
	UserAgent []byte
	// Tries names each upstream try when there was more than one; the
	// client got the last real answer among them.
	Tries []UpstreamTry
	// TraceID is the request's trace id in hex when tracing is on, sampled
	// or not (its upstream saw the same id).
	TraceID []byte
	// WAF is what the security plugins noted: the rule ids a WAF matched,
	// a bypass WAF's fail-open (words joined with spaces).
	WAF []byte
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

// AccessLog writes access log entries, as JSON lines by default, to its
// sinks. A line is built once, in a pooled buffer outside any lock, and
// handed to every sink.
type AccessLog struct {
	enabled atomic.Bool
	format  atomic.Pointer[AccessFormat] // nil: the default JSON line
	sinks   atomic.Pointer[sinkSet]
	closed  atomic.Bool
	pool    sync.Pool // *[]byte
}

// Sink takes finished access log lines.
type Sink interface {
	// WriteLine takes one line (ending in a newline) and its partition key
	// (nil when the sink wants none). It must not block on I/O for long
	// and must not keep line or key after it returns.
	WriteLine(key, line []byte)
	// Close flushes what the sink holds and releases it.
	Close() error
}

// KeyedSink is a sink that partitions lines by a field of the entry
// (Kafka): KeyField names it, as the access log field list does.
type KeyedSink interface {
	Sink
	KeyField() string
}

// sinkSet is the sinks of the moment, with each keyed sink's key field.
type sinkSet struct {
	sinks []Sink
	keys  []fieldID // per sink; noKey for none
}

const noKey fieldID = 255

// NewAccessLog returns an enabled access log writing to w through a
// StreamSink. Close stops it. The log does not close w.
func NewAccessLog(w io.Writer) *AccessLog {
	l := NewAccessLogTo()
	if _, err := l.SetSinks([]Sink{NewStreamSink(w)}); err != nil {
		panic(err) // a StreamSink has no key to get wrong
	}
	return l
}

// NewAccessLogTo returns an enabled access log with no sinks yet.
func NewAccessLogTo(sinks ...Sink) *AccessLog {
	l := &AccessLog{}
	l.pool.New = func() any { b := make([]byte, 0, 1024); return &b }
	l.enabled.Store(true)
	l.sinks.Store(&sinkSet{})
	if len(sinks) > 0 {
		if _, err := l.SetSinks(sinks); err != nil {
			panic(err)
		}
	}
	return l
}

// SetSinks makes the log write to sinks from now on and returns the ones
// it wrote to before, for the caller to close once no line is on its way
// to them (Close does it for the last set).
func (l *AccessLog) SetSinks(sinks []Sink) ([]Sink, error) {
	set := &sinkSet{sinks: sinks, keys: make([]fieldID, len(sinks))}
	for i, s := range sinks {
		set.keys[i] = noKey
		if k, ok := s.(KeyedSink); ok && k.KeyField() != "" {
			f, ok := findField(k.KeyField())
			if !ok {
				return nil, fmt.Errorf("accesslog: key %q: unknown field", k.KeyField())
			}
			set.keys[i] = f.id
		}
	}
	if l.closed.Load() {
		return nil, errors.New("accesslog: closed")
	}
	old := l.sinks.Swap(set)
	if old == nil {
		return nil, nil
	}
	return old.sinks, nil
}

// Sinks returns the sinks of the moment.
func (l *AccessLog) Sinks() []Sink { return l.sinks.Load().sinks }

// Enabled reports whether entries are written. Callers check it before
// filling an entry to skip the work when logging is off.
func (l *AccessLog) Enabled() bool { return l.enabled.Load() }

// SetFormat sets how lines are written from now on; nil is the default
// JSON line.
func (l *AccessLog) SetFormat(f *AccessFormat) { l.format.Store(f) }

// SetEnabled turns the log on or off at runtime.
func (l *AccessLog) SetEnabled(on bool) { l.enabled.Store(on) }

// Log writes one entry if the log is enabled. In steady state it does not
// allocate. A request never fails over its log line: a sink that cannot
// take it drops it (and says so its own way).
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
	set := l.sinks.Load()
	if len(set.sinks) == 0 {
		return
	}
	bp := l.pool.Get().(*[]byte)
	var line []byte
	if f == nil {
		line = appendAccessEntry((*bp)[:0], e)
	} else {
		line = f.append((*bp)[:0], e)
	}
	n := len(line)
	for i, s := range set.sinks {
		var key []byte
		if k := set.keys[i]; k != noKey {
			line = appendValue(line[:n], k, e, false)
			key = line[n:]
		}
		s.WriteLine(key, line[:n])
	}
	if cap(line) <= maxPooledLine {
		*bp = line[:0]
		l.pool.Put(bp)
	}
}

// Redirect sends the lines to come to the writer open returns, on the
// log's first stream sink (see StreamSink.Redirect).
func (l *AccessLog) Redirect(open func() (io.Writer, error)) error {
	for _, s := range l.sinks.Load().sinks {
		if ss, ok := s.(*StreamSink); ok {
			return ss.Redirect(open)
		}
	}
	return errors.New("accesslog: no stream to redirect")
}

// Close closes every sink (flushing what they hold) and returns their
// errors. Entries logged after Close are dropped.
func (l *AccessLog) Close() error {
	if l.closed.Swap(true) {
		return errors.New("accesslog: already closed")
	}
	old := l.sinks.Swap(&sinkSet{})
	var errs []error
	for _, s := range old.sinks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// StreamSink writes lines to a stream (stdout, a file) through one
// buffered writer, flushed every 100 ms.
type StreamSink struct {
	mu     sync.Mutex // guards bw, err and closed
	bw     *bufio.Writer
	err    error // first write error, returned by Close
	closed bool

	stop chan struct{}
	done chan struct{}
}

// NewStreamSink returns a sink writing to w, and starts the goroutine that
// flushes it every 100 ms. Close stops it; it does not close w.
func NewStreamSink(w io.Writer) *StreamSink {
	s := &StreamSink{bw: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go s.flushLoop()
	return s
}

// WriteLine writes one line. A write error is kept for Close and later
// lines are dropped.
func (s *StreamSink) WriteLine(_, line []byte) {
	s.mu.Lock()
	if !s.closed && s.err == nil {
		// Each write ends at a line's end: a line that does not fit goes
		// out after what is buffered, never split across two writes, so
		// another writer on the same stream cannot land inside it.
		if len(line) > s.bw.Available() && s.bw.Buffered() > 0 {
			s.err = s.bw.Flush()
		}
		if s.err == nil {
			_, s.err = s.bw.Write(line)
		}
	}
	s.mu.Unlock()
}

// Redirect sends the lines to come to the writer open returns, for a log
// file that logrotate moved away: what is buffered goes to the old writer
// first, then open runs (it may close the old writer: nothing is written
// to it afterwards), and no line is lost or split between the two. If open
// fails the sink keeps its old writer. A write error on the old writer is
// forgotten, so a log stopped by a full disk starts again on the new file.
func (s *StreamSink) Redirect(open func() (io.Writer, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("accesslog: closed")
	}
	if s.err == nil && s.bw.Buffered() > 0 {
		s.err = s.bw.Flush()
	}
	w, err := open()
	if err != nil {
		return err
	}
	s.bw.Reset(w)
	s.err = nil
	return nil
}

func (s *StreamSink) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.flush()
		}
	}
}

func (s *StreamSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && s.bw.Buffered() > 0 {
		s.err = s.bw.Flush()
	}
}

// Close flushes what is buffered, stops the flusher and returns the first
// write error, if any.
func (s *StreamSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("accesslog: already closed")
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && s.bw.Buffered() > 0 {
		s.err = s.bw.Flush()
	}
	if s.err != nil {
		return fmt.Errorf("accesslog: write: %w", s.err)
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
	if len(e.TraceID) > 0 {
		b = append(b, `,"trace_id":"`...)
		b = append(append(b, e.TraceID...), '"')
	}
	if len(e.WAF) > 0 {
		b = append(b, `,"waf":`...)
		b = appendJSONString(b, e.WAF)
	}
	return append(b, "}\n"...)
}
