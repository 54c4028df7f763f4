package kafkasink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"pylon.io/pylon/internal/ir"
)

// The Kafka here is franz-go's in-process cluster (kfake), which speaks
// the Kafka protocol on a real 127.0.0.1 port: there is no Kafka broker to
// run on these machines.

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startCluster(t *testing.T, port int, dir string) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(4, "access")}
	if dir != "" {
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// consume reads topic access from the start until want distinct values
// arrived or the deadline passes; it returns the distinct values and the
// keys seen per value.
func consume(t *testing.T, broker string, want int, within time.Duration) (map[string]string, int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("access"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]string{}
	total := 0
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for len(got) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			total++
			got[string(r.Value)] = string(r.Key)
		})
	}
	return got, total
}

func line(i int) []byte { return []byte(`{"n":` + strconv.Itoa(i) + "}\n") }

func TestEveryLineArrivesKeyed(t *testing.T) {
	port := freePort(t)
	c := startCluster(t, port, "")
	defer c.Close()
	broker := fmt.Sprintf("127.0.0.1:%d", port)
	s, err := New(Config{Brokers: []string{broker}, Topic: "access", Key: "host", QueueLines: 200000, QueueBytes: 64 << 20}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	const n = 100000
	for i := 0; i < n; i++ {
		s.WriteLine([]byte("h"+strconv.Itoa(i%7)), line(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, total := consume(t, broker, n, time.Minute)
	if len(got) != n || total != n {
		t.Fatalf("%d distinct lines arrived (%d records), want %d", len(got), total, n)
	}
	for i := 0; i < n; i += 9973 {
		v := strings.TrimSuffix(string(line(i)), "\n")
		if k, ok := got[v]; !ok || k != "h"+strconv.Itoa(i%7) {
			t.Fatalf("line %s: key %q, present %v", v, k, ok)
		}
	}
	if st := s.Stats(); st.Sent != n || st.Dropped != 0 || st.Failed != 0 || st.QueuedLines != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// The broker restarts mid-stream (same port, same data): the sink carries
// on by itself, and the lines written while it was down arrive too.
func TestBrokerRestartResumes(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	c := startCluster(t, port, dir)
	broker := fmt.Sprintf("127.0.0.1:%d", port)
	s, err := New(Config{Brokers: []string{broker}, Topic: "access"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 3000
	for i := 0; i < n/3; i++ {
		s.WriteLine(nil, line(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for i := n / 3; i < 2*n/3; i++ { // the broker is down
		s.WriteLine(nil, line(i))
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(2 * time.Second)
	c = startCluster(t, port, dir)
	defer c.Close()
	for i := 2 * n / 3; i < n; i++ {
		s.WriteLine(nil, line(i))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := consume(t, broker, n, time.Minute)
	if len(got) != n {
		t.Fatalf("%d of %d lines arrived across the restart", len(got), n)
	}
	if st := s.Stats(); st.Dropped != 0 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// With no broker at all, writes stay immediate, the queue stays within its
// bound, and every line past it is counted as dropped.
func TestBrokerDownDropsCountedMemoryBounded(t *testing.T) {
	port := freePort(t) // nothing listens there
	s, err := New(Config{Brokers: []string{fmt.Sprintf("127.0.0.1:%d", port)}, Topic: "access",
		QueueLines: 1000, DeliveryTimeout: ir.Duration(time.Hour)}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	payload := []byte(strings.Repeat("x", 500) + "\n")
	const n = 200000
	for i := 0; i < n; i++ {
		s.WriteLine(nil, payload)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := s.Stats()
	if st.QueuedLines > 1000 || st.Dropped < n-1000 || st.Dropped+uint64(st.QueuedLines)+st.Failed != n {
		t.Fatalf("stats %+v after %d lines", st, n)
	}
	// 200,000 lines of 500 B are 100 MB; the queue holds 1,000 (0.5 MB).
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 16<<20 {
		t.Fatalf("heap grew by %d bytes with the broker down", grown)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		c    Config
		want string
	}{
		{Config{Topic: "a"}, "k.brokers: at least one broker"},
		{Config{Brokers: []string{"nope"}, Topic: "a"}, "k.brokers[0]: \"nope\" is not host:port"},
		{Config{Brokers: []string{"h:0"}, Topic: "a"}, "k.brokers[0]"},
		{Config{Brokers: []string{"h:1"}}, "k.topic: required"},
		{Config{Brokers: []string{"h:1"}, Topic: "a b"}, "k.topic:"},
		{Config{Brokers: []string{"h:1"}, Topic: "a", Compression: "brotli"}, "k.compression:"},
		{Config{Brokers: []string{"h:1"}, Topic: "a", Acks: "2"}, "k.acks:"},
		{Config{Brokers: []string{"h:1"}, Topic: "a", SASL: &SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, "k.sasl.mechanism:"},
		{Config{Brokers: []string{"h:1"}, Topic: "a", SASL: &SASL{Mechanism: "PLAIN", Username: "u"}}, "k.sasl.password: required"},
		{Config{Brokers: []string{"h:1"}, Topic: "a", TLS: &TLSConfig{CertFile: "c"}}, "k.tls: certFile and keyFile"},
	}
	for _, tc := range cases {
		err := tc.c.Validate("k")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.c.Brokers, err, tc.want)
		}
	}
	if err := (Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "pylon-access"}).Validate("k"); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c := Config{Brokers: []string{"b:1"}, Topic: "t", SASL: &SASL{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "hunter2"}}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("sink", "config", c, "sasl", *c.SASL)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", *c.SASL), fmt.Sprintf("%#v", *c.SASL), logged.String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
}
