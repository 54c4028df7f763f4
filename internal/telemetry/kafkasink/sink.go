package kafkasink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Sink sends lines to one Kafka topic. WriteLine never blocks on the
// network: a line joins the client's buffer if the buffer has room, and
// is dropped (and counted) otherwise.
type Sink struct {
	cfg    Config
	client *kgo.Client
	log    *slog.Logger

	maxLines int64
	maxBytes int64
	lines    atomic.Int64 // waiting: written, not yet acknowledged or failed
	bytes    atomic.Int64

	sent      atomic.Uint64
	dropped   atomic.Uint64 // the buffer was full
	failed    atomic.Uint64 // given up after DeliveryTimeout, or refused by the broker
	lastError atomic.Pointer[string]

	recs   sync.Pool // *kgo.Record
	closed atomic.Bool
}

// Stats are a sink's counts since it started.
type Stats struct {
	Sent, Dropped, Failed uint64
	QueuedLines           int64
	QueuedBytes           int64
}

// New starts a sink for c (which Validate accepted). It does not wait for
// a broker: lines buffer until one answers.
func New(c Config, log *slog.Logger) (*Sink, error) {
	if err := c.Validate("kafka"); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Sink{cfg: c, log: log.With("sink", "kafka", "topic", c.Topic)}
	s.maxLines = int64(c.QueueLines)
	if s.maxLines == 0 {
		s.maxLines = defaultQueueLines
	}
	s.maxBytes = c.QueueBytes
	if s.maxBytes == 0 {
		s.maxBytes = defaultQueueBytes
	}
	linger := c.Linger.D()
	if c.Linger == 0 {
		linger = defaultLinger
	}
	delivery := c.DeliveryTimeout.D()
	if delivery == 0 {
		delivery = defaultDeliveryTimeout
	}
	clientID := c.ClientID
	if clientID == "" {
		clientID = "pylon"
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.DefaultProduceTopic(c.Topic),
		kgo.ClientID(clientID),
		// The sink's own bound (lines, bytes) refuses lines before the
		// client would; the client's is a backstop a little above it.
		kgo.MaxBufferedRecords(int(s.maxLines) + 64),
		kgo.MaxBufferedBytes(int(s.maxBytes) + 1<<20),
		kgo.ProducerLinger(linger),
		kgo.RecordDeliveryTimeout(delivery),
		kgo.ProducerBatchCompression(compression(c.Compression)...),
		kgo.RecordPartitioner(kgo.UniformBytesPartitioner(64<<10, true, true, nil)),
		// A broker that is down comes back: keep asking for the topic
		// rather than failing its lines after four tries.
		kgo.UnknownTopicRetries(-1),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			d := 100 * time.Millisecond << min(tries, 5)
			return min(d, 2*time.Second)
		}),
		kgo.WithLogger(logger{s.log, new(atomic.Int64)}),
	}
	switch c.Acks {
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if c.SASL != nil {
		m, err := mechanism(c.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	if c.TLS != nil {
		tc, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	s.client = cl
	s.recs.New = func() any { return new(kgo.Record) }
	return s, nil
}

func compression(name string) []kgo.CompressionCodec {
	switch name {
	case "none":
		return []kgo.CompressionCodec{kgo.NoCompression()}
	case "gzip":
		return []kgo.CompressionCodec{kgo.GzipCompression(), kgo.NoCompression()}
	case "lz4":
		return []kgo.CompressionCodec{kgo.Lz4Compression(), kgo.NoCompression()}
	case "zstd":
		return []kgo.CompressionCodec{kgo.ZstdCompression(), kgo.NoCompression()}
	default:
		return []kgo.CompressionCodec{kgo.SnappyCompression(), kgo.NoCompression()}
	}
}

func mechanism(s *SASL) (sasl.Mechanism, error) {
	pass, err := s.password()
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl.mechanism: %q", s.Mechanism)
}

// Config returns the sink's config.
func (s *Sink) Config() Config { return s.cfg }

// KeyField names the access log field that keys the records ("" for none).
func (s *Sink) KeyField() string { return s.cfg.Key }

// WriteLine queues one line (its trailing newline is not sent) with its
// key. It copies both and returns at once.
func (s *Sink) WriteLine(key, line []byte) {
	if s.closed.Load() {
		s.dropped.Add(1)
		return
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	size := int64(len(line) + len(key))
	if s.lines.Add(1) > s.maxLines || s.bytes.Add(size) > s.maxBytes {
		s.lines.Add(-1)
		s.bytes.Add(-size)
		s.dropped.Add(1)
		return
	}
	r := s.recs.Get().(*kgo.Record)
	buf := make([]byte, len(key)+len(line))
	copy(buf, key)
	copy(buf[len(key):], line)
	*r = kgo.Record{Value: buf[len(key):]}
	if len(key) > 0 {
		r.Key = buf[:len(key):len(key)]
	}
	s.client.TryProduce(context.Background(), r, s.done)
}

// done is every record's promise.
func (s *Sink) done(r *kgo.Record, err error) {
	s.lines.Add(-1)
	s.bytes.Add(-int64(len(r.Key) + len(r.Value)))
	switch {
	case err == nil:
		s.sent.Add(1)
	case errors.Is(err, kgo.ErrMaxBuffered):
		s.dropped.Add(1)
	default:
		if s.failed.Add(1) == 1 || !errors.Is(err, kgo.ErrClientClosed) {
			s.noteError(err)
		}
	}
	*r = kgo.Record{}
	s.recs.Put(r)
}

// noteError logs a delivery failure when it differs from the last one, so
// a broker that stays down does not flood the process log.
func (s *Sink) noteError(err error) {
	msg := err.Error()
	if p := s.lastError.Swap(&msg); p != nil && *p == msg {
		return
	}
	s.log.Warn("access log lines lost", "error", msg)
}

// Stats returns the sink's counts.
func (s *Sink) Stats() Stats {
	return Stats{
		Sent: s.sent.Load(), Dropped: s.dropped.Load(), Failed: s.failed.Load(),
		QueuedLines: max(s.lines.Load(), 0), QueuedBytes: max(s.bytes.Load(), 0),
	}
}

// Flush waits until every queued line is acknowledged or failed, or ctx
// ends.
func (s *Sink) Flush(ctx context.Context) error { return s.client.Flush(ctx) }

// Close stops taking lines, waits up to 5 s for the queued ones to leave,
// and closes the client; lines still queued then are counted as failed.
func (s *Sink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.CloseContext(ctx)
}

// CloseContext is Close with the caller's deadline for the flush.
func (s *Sink) CloseContext(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.client.Flush(ctx)
	s.client.Close()
	if err != nil {
		return fmt.Errorf("kafka %s: flush: %w", s.cfg.Topic, err)
	}
	return nil
}

// logger passes the client's warnings and errors to the process log, at
// most one line every 10 s: a broker that is down makes the client warn at
// every try.
type logger struct {
	l    *slog.Logger
	last *atomic.Int64 // unix nanoseconds of the last line
}

func (logger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (g logger) Log(level kgo.LogLevel, msg string, kv ...any) {
	now := time.Now().UnixNano()
	last := g.last.Load()
	if now-last < int64(10*time.Second) || !g.last.CompareAndSwap(last, now) {
		return
	}
	switch level {
	case kgo.LogLevelError:
		g.l.Error("kafka: "+msg, kv...)
	case kgo.LogLevelWarn:
		g.l.Warn("kafka: "+msg, kv...)
	}
}
