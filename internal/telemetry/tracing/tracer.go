// Package tracing is Pylon's OpenTelemetry tracing: trace context read from
// and written to requests (W3C tracecontext, B3), the sampling decision,
// and a server span per request with a child span per upstream try,
// exported over OTLP.
//
// The request path decides and propagates on its own, without the SDK:
// an unsampled request (99 of 100 at the default ratio) costs a header
// parse, a random span id and a header write, and allocates nothing. Only
// a sampled request makes SDK spans.
package tracing

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"
)

// Tracer is one tracing setup: its sampler and propagators, and the SDK
// provider that exports sampled spans. A new config makes a new Tracer;
// the old one is shut down once the new one serves.
type Tracer struct {
	settings Settings
	prop     propagators
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	queue    *queue
}

var errorsOnce sync.Once

// propagators is the configured set, as bits, for the request path.
type propagators uint8

const (
	propTraceContext propagators = 1 << iota
	propB3
	propB3Multi
)

// New builds a Tracer from resolved settings. It does not wait for the
// collector: spans queue until it answers, and are dropped (and counted)
// when the queue is full.
func New(s Settings, version string, log *slog.Logger) (*Tracer, error) {
	errorsOnce.Do(func() {
		// The SDK and exporters report export errors through this global
		// hook: into Pylon's log, one JSON record each.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("tracing: "+err.Error(), "component", "tracing")
		}))
	})
	exp, err := newExporter(s)
	if err != nil {
		return nil, err
	}
	res, err := resource.New(context.Background(), resource.WithFromEnv(), resource.WithAttributes(
		attribute.String("service.name", s.ServiceName),
		attribute.String("service.version", version),
	))
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	q := newQueue(exp, s.QueueSize, s.BatchSize, s.BatchTimeout.D(), s.ExportTimeout.D(), log)
	provider := sdktrace.NewTracerProvider(
		// The request path has decided already: only sampled requests
		// reach the SDK.
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithIDGenerator(idGenerator{}),
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(q),
	)
	t := &Tracer{settings: s, provider: provider, tracer: provider.Tracer("pylon.io/pylon"), queue: q}
	for _, p := range s.Propagators {
		switch p {
		case TraceContext:
			t.prop |= propTraceContext
		case B3Single:
			t.prop |= propB3
		case B3Multi:
			t.prop |= propB3Multi
		}
	}
	return t, nil
}

// Settings returns what the tracer runs with.
func (t *Tracer) Settings() Settings { return t.settings }

// Stats are the tracer's export counters.
type Stats struct {
	Exported, Dropped, Failed uint64
	Queued                    int
}

// Stats returns the export counters.
func (t *Tracer) Stats() Stats { return t.queue.stats() }

// Shutdown exports what is queued until ctx ends, then stops.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

func newExporter(s Settings) (sdktrace.SpanExporter, error) {
	ctx := context.Background()
	url := strings.Contains(s.Endpoint, "://")
	var tlsConf *tls.Config
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tracing: caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tracing: caFile %s: no PEM certificates", s.CAFile)
		}
		tlsConf = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	switch s.Exporter {
	case ExporterOTLPGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(s.ExportTimeout.D())}
		if url {
			opts = append(opts, otlptracegrpc.WithEndpointURL(s.Endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(s.Endpoint))
		}
		switch {
		case s.Insecure:
			opts = append(opts, otlptracegrpc.WithInsecure())
		case tlsConf != nil:
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsConf)))
		}
		if len(s.Headers) > 0 {
			opts = append(opts, otlptracegrpc.WithHeaders(s.Headers))
		}
		return otlptracegrpc.New(ctx, opts...)
	case ExporterOTLPHTTP:
		opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(s.ExportTimeout.D())}
		if url {
			opts = append(opts, otlptracehttp.WithEndpointURL(s.Endpoint))
		} else {
			opts = append(opts, otlptracehttp.WithEndpoint(s.Endpoint))
		}
		switch {
		case s.Insecure:
			opts = append(opts, otlptracehttp.WithInsecure())
		case tlsConf != nil:
			opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsConf))
		}
		if len(s.Headers) > 0 {
			opts = append(opts, otlptracehttp.WithHeaders(s.Headers))
		}
		return otlptracehttp.New(ctx, opts...)
	}
	return nil, fmt.Errorf("tracing: unknown exporter %q", s.Exporter)
}

// idGenerator gives the SDK the ids the request path chose (so the id an
// upstream saw is the span's), and random ones otherwise.
type idGenerator struct{}

type presetKey struct{}

// preset is an id pair the next span started under its context takes.
type preset struct {
	tid  trace.TraceID
	sid  trace.SpanID
	used bool
}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p, ok := ctx.Value(presetKey{}).(*preset); ok && !p.used {
		p.used = true
		return p.tid, p.sid
	}
	var tid trace.TraceID
	randomTraceID((*[16]byte)(&tid))
	return tid, randomSpanID()
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if p, ok := ctx.Value(presetKey{}).(*preset); ok && !p.used {
		p.used = true
		return p.sid
	}
	return randomSpanID()
}

func randomTraceID(t *[16]byte) {
	for {
		a, b := rand.Uint64(), rand.Uint64()
		if a|b == 0 {
			continue
		}
		binary.BigEndian.PutUint64(t[:8], a)
		binary.BigEndian.PutUint64(t[8:], b)
		return
	}
}

func randomSpanID() (s [8]byte) {
	for {
		v := rand.Uint64()
		if v == 0 {
			continue
		}
		binary.BigEndian.PutUint64(s[:], v)
		return s
	}
}

// queue is the span processor: a bounded queue that never blocks the
// request that ends a span, and one goroutine exporting batches. It is
// ours rather than the SDK's batch processor because that one counts the
// spans it drops only in a log line; here they are a metric.
type queue struct {
	exp           sdktrace.SpanExporter
	ch            chan sdktrace.ReadOnlySpan
	batch         int
	timeout       time.Duration
	exportTimeout time.Duration
	log           *slog.Logger

	exported, dropped, failed atomic.Uint64
	stopped                   atomic.Bool
	flush                     chan chan struct{}
	stop                      chan struct{}
	done                      chan struct{}
}

func newQueue(exp sdktrace.SpanExporter, size, batch int, timeout, exportTimeout time.Duration, log *slog.Logger) *queue {
	q := &queue{exp: exp, ch: make(chan sdktrace.ReadOnlySpan, size), batch: batch, timeout: timeout,
		exportTimeout: exportTimeout, log: log, flush: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *queue) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (q *queue) OnEnd(s sdktrace.ReadOnlySpan) {
	if q.stopped.Load() {
		q.dropped.Add(1)
		return
	}
	select {
	case q.ch <- s:
	default:
		q.dropped.Add(1)
	}
}

func (q *queue) stats() Stats {
	return Stats{Exported: q.exported.Load(), Dropped: q.dropped.Load(), Failed: q.failed.Load(), Queued: len(q.ch)}
}

func (q *queue) run() {
	defer close(q.done)
	buf := make([]sdktrace.ReadOnlySpan, 0, q.batch)
	timer := time.NewTimer(q.timeout)
	defer timer.Stop()
	send := func() {
		if len(buf) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), q.exportTimeout)
		err := q.exp.ExportSpans(ctx, buf)
		cancel()
		if err != nil {
			q.failed.Add(uint64(len(buf)))
			q.log.Warn("tracing: export failed; spans lost", "spans", len(buf), "error", err.Error())
		} else {
			q.exported.Add(uint64(len(buf)))
		}
		clear(buf)
		buf = buf[:0]
	}
	drain := func() {
		for {
			select {
			case s := <-q.ch:
				if buf = append(buf, s); len(buf) >= q.batch {
					send()
				}
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case s := <-q.ch:
			if buf = append(buf, s); len(buf) >= q.batch {
				send()
			}
		case <-timer.C:
			send()
			timer.Reset(q.timeout)
		case ack := <-q.flush:
			drain()
			close(ack)
		case <-q.stop:
			drain()
			return
		}
	}
}

func (q *queue) ForceFlush(ctx context.Context) error {
	if q.stopped.Load() {
		return nil
	}
	ack := make(chan struct{})
	select {
	case q.flush <- ack:
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *queue) Shutdown(ctx context.Context) error {
	if q.stopped.Swap(true) {
		return nil
	}
	close(q.stop)
	select {
	case <-q.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return q.exp.Shutdown(ctx)
}

var _ sdktrace.SpanProcessor = (*queue)(nil)
