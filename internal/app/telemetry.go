package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pylon.io/pylon/internal/dataplane/proxy"
	"pylon.io/pylon/internal/source/file"
	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/telemetry/kafkasink"
	"pylon.io/pylon/internal/telemetry/tracing"
)

// telemetryState is the tracing and access log setup of the moment, as
// the telemetry block of the config files says (or the flags, without
// one). SIGHUP reads the block again and applies what changed: a new
// tracer or new sinks take over, then the old ones are shut down.
type telemetryState struct {
	o      Options
	log    *slog.Logger
	proxy  *proxy.Proxy
	access *accessLog

	mu      sync.Mutex
	applied *telemetry.Config // the block in force; nil: none
	tracer  *tracing.Tracer
	retired tracing.Stats // counts of tracers shut down, so counters only grow
	kafka   []*kafkaSink
	// retiredKafka holds the counts of Kafka sinks replaced, by topic.
	retiredKafka map[string]kafkasink.Stats
}

// loadTelemetry reads the telemetry block of the config files; nil when
// there are none or they have no block.
func loadTelemetry(o Options) (*telemetry.Config, error) {
	if o.ConfigPath == "" {
		return nil, nil
	}
	cfg, err := file.LoadTelemetry(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	if cfg != nil && cfg.AccessLog != nil && o.AccessLogFlags && o.Log != nil {
		o.Log.Info("the telemetry block's accessLog is in force; the --access-log flags are ignored")
	}
	return cfg, nil
}

// apply puts cfg in force. On error nothing changes.
func (t *telemetryState) apply(cfg *telemetry.Config) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var oldTracing, oldAccess any
	if t.applied != nil {
		oldTracing, oldAccess = t.applied.Tracing, t.applied.AccessLog
	}
	var newTracing, newAccess any
	if cfg != nil {
		newTracing, newAccess = cfg.Tracing, cfg.AccessLog
	}
	tracingChanged := !reflect.DeepEqual(oldTracing, newTracing)
	accessChanged := !reflect.DeepEqual(oldAccess, newAccess)

	var tracer *tracing.Tracer
	if tracingChanged && cfg != nil && cfg.Tracing != nil {
		s, err := cfg.Tracing.Resolve("telemetry.tracing")
		if err != nil {
			return err
		}
		if tracer, err = tracing.New(s, t.o.Control.Version, t.log); err != nil {
			return fmt.Errorf("telemetry.tracing: %w", err)
		}
	}
	if accessChanged {
		if err := t.applyAccess(cfg); err != nil {
			if tracer != nil {
				go tracer.Shutdown(context.Background())
			}
			return err
		}
	}
	if tracingChanged {
		old := t.tracer
		t.tracer = tracer
		t.proxy.SetTracer(tracer)
		if old != nil {
			st := old.Stats()
			t.retired.Exported += st.Exported
			t.retired.Dropped += st.Dropped
			t.retired.Failed += st.Failed
			go shutdownTracer(old, t.log)
		}
		if tracer != nil {
			s := tracer.Settings()
			t.log.Info("tracing on", "exporter", s.Exporter, "endpoint", s.Endpoint, "sampleRatio", s.Sampler.Ratio,
				"parentBased", s.Sampler.ParentBased, "propagators", s.Propagators)
		} else if old != nil {
			t.log.Info("tracing off")
		}
	}
	t.applied = cfg
	return nil
}

func shutdownTracer(tr *tracing.Tracer, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		log.Warn("tracing: shutdown of the previous tracer", "error", err.Error())
	}
}

// applyAccess builds the access log the block describes (or the flags',
// when the block has none) and swaps it in.
func (t *telemetryState) applyAccess(cfg *telemetry.Config) error {
	if cfg == nil || cfg.AccessLog == nil {
		if t.applied == nil || t.applied.AccessLog == nil {
			return nil // the flags' log is in force already
		}
		format, err := accessFormat(t.o)
		if err != nil {
			return err
		}
		sinks, files, err := flagSinks(t.o)
		if err != nil {
			return err
		}
		if err := t.access.setSinks(sinks, files); err != nil {
			return err
		}
		t.retireKafka()
		t.access.SetFormat(format)
		t.access.SetEnabled(t.o.AccessLog)
		return nil
	}
	a := cfg.AccessLog
	format, err := a.LineFormat()
	if err != nil {
		return err
	}
	var sinks []telemetry.Sink
	var files []*fileSink
	var kafka []*kafkaSink
	fail := func(err error) error {
		for _, s := range sinks {
			s.Close()
		}
		return err
	}
	for i, sc := range a.Sinks {
		switch {
		case sc.Stdout != nil:
			sinks = append(sinks, telemetry.NewStreamSink(os.Stdout))
		case sc.File != nil:
			fs, err := openFileSink(sc.File.Path)
			if err != nil {
				return fail(fmt.Errorf("telemetry.accessLog.sinks[%d].file.path: %w", i, err))
			}
			sinks, files = append(sinks, fs), append(files, fs)
		case sc.Kafka != nil:
			ks, err := newKafkaSink(*sc.Kafka, t.log)
			if err != nil {
				return fail(fmt.Errorf("telemetry.accessLog.sinks[%d].kafka: %w", i, err))
			}
			sinks, kafka = append(sinks, ks), append(kafka, ks)
		}
	}
	if len(a.Sinks) == 0 {
		sinks = []telemetry.Sink{telemetry.NewStreamSink(os.Stdout)}
	}
	if err := t.access.setSinks(sinks, files); err != nil {
		return fail(err)
	}
	t.retireKafka()
	t.kafka = kafka
	t.access.SetFormat(format)
	t.access.SetEnabled(a.On())
	return nil
}

// reloadOnHUP makes SIGHUP read the telemetry block again and apply it.
func (t *telemetryState) reloadOnHUP() func() {
	return onSignal(syscall.SIGHUP, func() {
		if t.o.ConfigPath == "" {
			return
		}
		cfg, err := loadTelemetry(t.o)
		if err == nil {
			err = t.apply(cfg)
		}
		if err != nil {
			t.log.Error("SIGHUP: telemetry block not applied; the previous one stays", "error", err.Error())
			return
		}
		t.log.Info("SIGHUP: telemetry block applied")
	})
}

// close shuts the tracer down, exporting what it holds; the access log is
// the data plane's to close.
func (t *telemetryState) close() {
	t.mu.Lock()
	tr := t.tracer
	t.tracer = nil
	t.mu.Unlock()
	if tr != nil {
		t.proxy.SetTracer(nil)
		shutdownTracer(tr, t.log)
	}
}

var (
	spansExportedDesc = prometheus.NewDesc("pylon_tracing_spans_exported_total", "Spans exported to the collector.", nil, nil)
	spansDroppedDesc  = prometheus.NewDesc("pylon_tracing_spans_dropped_total", "Spans dropped because the export queue was full.", nil, nil)
	spansFailedDesc   = prometheus.NewDesc("pylon_tracing_spans_failed_total", "Spans lost because their export failed.", nil, nil)
	spansQueuedDesc   = prometheus.NewDesc("pylon_tracing_queued_spans", "Spans waiting for export.", nil, nil)
)

// Describe and Collect make the tracing (and Kafka sink) counters metrics.
func (t *telemetryState) Describe(ch chan<- *prometheus.Desc) {
	ch <- spansExportedDesc
	ch <- spansDroppedDesc
	ch <- spansFailedDesc
	ch <- spansQueuedDesc
	describeKafka(ch)
}

func (t *telemetryState) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	st := t.retired
	if t.tracer != nil {
		cur := t.tracer.Stats()
		st.Exported += cur.Exported
		st.Dropped += cur.Dropped
		st.Failed += cur.Failed
		st.Queued = cur.Queued
	}
	kafka := t.kafka
	var retiredKafka map[string]kafkasink.Stats
	if len(t.retiredKafka) > 0 {
		retiredKafka = make(map[string]kafkasink.Stats, len(t.retiredKafka))
		for k, v := range t.retiredKafka {
			retiredKafka[k] = v
		}
	}
	t.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(spansExportedDesc, prometheus.CounterValue, float64(st.Exported))
	ch <- prometheus.MustNewConstMetric(spansDroppedDesc, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(spansFailedDesc, prometheus.CounterValue, float64(st.Failed))
	ch <- prometheus.MustNewConstMetric(spansQueuedDesc, prometheus.GaugeValue, float64(st.Queued))
	collectKafka(ch, kafka, retiredKafka)
}
