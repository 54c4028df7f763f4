package app

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"pylon.io/pylon/internal/telemetry"
	"pylon.io/pylon/internal/telemetry/kafkasink"
)

// kafkaSink is an access log sink sending to Kafka.
type kafkaSink = kafkasink.Sink

func newKafkaSink(c telemetry.KafkaSinkConfig, log *slog.Logger) (*kafkaSink, error) {
	return kafkasink.New(c, log)
}

var (
	kafkaSentDesc = prometheus.NewDesc("pylon_accesslog_kafka_lines_sent_total",
		"Access log lines Kafka acknowledged, by topic.", []string{"topic"}, nil)
	kafkaDroppedDesc = prometheus.NewDesc("pylon_accesslog_kafka_lines_dropped_total",
		"Access log lines dropped because the sink's queue was full (a broker slow or down), by topic.", []string{"topic"}, nil)
	kafkaFailedDesc = prometheus.NewDesc("pylon_accesslog_kafka_lines_failed_total",
		"Access log lines given up after the delivery timeout or refused by the broker, by topic.", []string{"topic"}, nil)
	kafkaQueuedDesc = prometheus.NewDesc("pylon_accesslog_kafka_queued_lines",
		"Access log lines waiting to be sent to Kafka, by topic.", []string{"topic"}, nil)
	kafkaQueuedBytesDesc = prometheus.NewDesc("pylon_accesslog_kafka_queued_bytes",
		"Bytes of access log lines waiting to be sent to Kafka, by topic.", []string{"topic"}, nil)
)

func describeKafka(ch chan<- *prometheus.Desc) {
	ch <- kafkaSentDesc
	ch <- kafkaDroppedDesc
	ch <- kafkaFailedDesc
	ch <- kafkaQueuedDesc
	ch <- kafkaQueuedBytesDesc
}

// collectKafka reports the counts of the sinks in use added to those of
// the sinks retired before them, by topic, so the counters only grow.
func collectKafka(ch chan<- prometheus.Metric, sinks []*kafkaSink, retired map[string]kafkasink.Stats) {
	by := make(map[string]kafkasink.Stats, len(sinks)+len(retired))
	for topic, st := range retired {
		by[topic] = st
	}
	for _, s := range sinks {
		by[s.Config().Topic] = addStats(by[s.Config().Topic], s.Stats())
	}
	for topic, st := range by {
		ch <- prometheus.MustNewConstMetric(kafkaSentDesc, prometheus.CounterValue, float64(st.Sent), topic)
		ch <- prometheus.MustNewConstMetric(kafkaDroppedDesc, prometheus.CounterValue, float64(st.Dropped), topic)
		ch <- prometheus.MustNewConstMetric(kafkaFailedDesc, prometheus.CounterValue, float64(st.Failed), topic)
		ch <- prometheus.MustNewConstMetric(kafkaQueuedDesc, prometheus.GaugeValue, float64(st.QueuedLines), topic)
		ch <- prometheus.MustNewConstMetric(kafkaQueuedBytesDesc, prometheus.GaugeValue, float64(st.QueuedBytes), topic)
	}
}

func addStats(a, b kafkasink.Stats) kafkasink.Stats {
	return kafkasink.Stats{
		Sent: a.Sent + b.Sent, Dropped: a.Dropped + b.Dropped, Failed: a.Failed + b.Failed,
		QueuedLines: a.QueuedLines + b.QueuedLines, QueuedBytes: a.QueuedBytes + b.QueuedBytes,
	}
}

// retireKafka keeps the counts of the Kafka sinks the access log no longer
// writes to (it has closed them), so their counters do not go backwards.
// Called with t.mu held.
func (t *telemetryState) retireKafka() {
	for _, s := range t.kafka {
		if t.retiredKafka == nil {
			t.retiredKafka = map[string]kafkasink.Stats{}
		}
		st := s.Stats()
		st.QueuedLines, st.QueuedBytes = 0, 0
		t.retiredKafka[s.Config().Topic] = addStats(t.retiredKafka[s.Config().Topic], st)
	}
	t.kafka = nil
}
