package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each bad telemetry block is refused with its file, line and field named.
func TestTelemetryBadInput(t *testing.T) {
	cases := []struct{ block, want string }{
		{`tracing: { endpoint: "127.0.0.1:notaport" }`, "telemetry.tracing.endpoint"},
		{`tracing: { endpoint: "ftp://collector:4317" }`, "telemetry.tracing.endpoint"},
		{`tracing: { endpoint: "127.0.0.1:4317", sampleRatio: 1.5 }`, "telemetry.tracing.sampleRatio: must be between 0 and 1"},
		{`tracing: { endpoint: "127.0.0.1:4317", sampleRatio: -0.1 }`, "telemetry.tracing.sampleRatio: must be between 0 and 1"},
		{`tracing: { endpoint: "127.0.0.1:4317", propagators: [jaeger] }`, "telemetry.tracing.propagators"},
		{`accessLog: { fields: [status, nope] }`, `telemetry.accessLog.fields: unknown field "nope"`},
		{`accessLog: { format: text, template: "$status ${nope" }`, "telemetry.accessLog.template"},
		{`accessLog: { format: text, template: "$nope" }`, "telemetry.accessLog.template"},
		{`accessLog: { sample: 2 }`, "telemetry.accessLog.sample"},
		{`accessLog: { sinks: [{ kafka: { brokers: [], topic: t } }] }`, "telemetry.accessLog.sinks[0].kafka.brokers: at least one broker"},
		{`accessLog: { sinks: [{ stdout: {} }, { kafka: { brokers: ["nohost"], topic: t } }] }`, "telemetry.accessLog.sinks[1].kafka.brokers[0]"},
		{`accessLog: { sinks: [{ file: {} }] }`, "telemetry.accessLog.sinks[0].file.path: required"},
		{`accessLog: { sinks: [{}] }`, "telemetry.accessLog.sinks[0]: set one of stdout, file, kafka"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "pylon.yaml")
		if err := os.WriteFile(path, []byte("telemetry:\n  "+tc.block+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadTelemetry(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "pylon.yaml") {
			t.Errorf("%s:\n  error %v\n  want one naming the file and %q", tc.block, err, tc.want)
		}
	}
}

// FuzzTelemetryBlock: any file content gives a block or errors, never a
// panic; a block it gives passes Validate.
func FuzzTelemetryBlock(f *testing.F) {
	f.Add([]byte("telemetry:\n  tracing: { endpoint: \"127.0.0.1:4317\", sampleRatio: 0.5, propagators: [tracecontext, b3] }\n"))
	f.Add([]byte("telemetry:\n  accessLog: { format: text, template: \"$status $request_time\", sinks: [{ kafka: { brokers: [\"127.0.0.1:9092\"], topic: t } }] }\n"))
	f.Add([]byte("telemetry: []\n---\ntelemetry: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ok, _, _ := readSetting(data, telemetryKey, decodeTelemetry)
		if ok {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("a block that loaded fails Validate: %v", err)
			}
		}
	})
}
