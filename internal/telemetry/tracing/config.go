package tracing

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"pylon.io/pylon/internal/ir"
)

// Exporter names.
const (
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
)

// Config is the tracing part of the telemetry config. Unset fields fall
// back to the OTEL_* environment variables the OpenTelemetry spec defines,
// then to Pylon's defaults; see Resolve.
type Config struct {
	// Exporter is otlp-grpc or otlp-http (OTEL_EXPORTER_OTLP_PROTOCOL
	// grpc or http/protobuf when unset; otlp-grpc by default).
	Exporter string `json:"exporter,omitempty" yaml:"exporter,omitempty"`
	// Endpoint is the collector: host:port, or a URL (http:// or https://;
	// for otlp-http its path is the traces path, /v1/traces when empty).
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT
	// when unset.
	Endpoint string `json:"endpoint,omitempty" yaml:"endpoint,omitempty"`
	// Insecure sends in cleartext; the default for a host:port endpoint
	// and an http:// URL. An https:// URL or caFile turns TLS on.
	Insecure *bool  `json:"insecure,omitempty" yaml:"insecure,omitempty"`
	CAFile   string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	// Headers go with every export (a collector's API key); their values
	// never appear in a log line.
	Headers map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
	// SampleRatio is the share of new traces kept, 0 to 1 (OTEL_TRACES_SAMPLER
	// and OTEL_TRACES_SAMPLER_ARG when unset; 0.01 by default: a gateway
	// sees every request). A route's tracing plugin can set its own.
	SampleRatio *float64 `json:"sampleRatio,omitempty" yaml:"sampleRatio,omitempty"`
	// ParentBased follows an incoming trace's decision, as the OpenTelemetry
	// default ParentBased sampler does: a sampled parent is always kept and an
	// unsampled one never. On by default.
	ParentBased *bool `json:"parentBased,omitempty" yaml:"parentBased,omitempty"`
	// Propagators read and write trace context: tracecontext (default), b3,
	// b3multi (OTEL_PROPAGATORS when unset). The first one that finds a
	// valid context on a request wins; all of them are written upstream.
	Propagators []string `json:"propagators,omitempty" yaml:"propagators,omitempty"`
	// ServiceName is the resource's service.name (OTEL_SERVICE_NAME, then
	// "pylon").
	ServiceName string `json:"serviceName,omitempty" yaml:"serviceName,omitempty"`
	// QueueSize bounds the spans waiting for export; past it spans are
	// dropped and counted (OTEL_BSP_MAX_QUEUE_SIZE, then 8192).
	QueueSize int `json:"queueSize,omitempty" yaml:"queueSize,omitempty"`
	// BatchSize is the most spans per export (OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
	// then 512).
	BatchSize int `json:"batchSize,omitempty" yaml:"batchSize,omitempty"`
	// BatchTimeout is the longest a span waits for its batch to fill
	// (OTEL_BSP_SCHEDULE_DELAY, then 1s).
	BatchTimeout ir.Duration `json:"batchTimeout,omitempty" yaml:"batchTimeout,omitempty"`
	// ExportTimeout bounds one export (OTEL_EXPORTER_OTLP_TIMEOUT, then 10s).
	ExportTimeout ir.Duration `json:"exportTimeout,omitempty" yaml:"exportTimeout,omitempty"`
}

// Settings is a Config resolved against the environment and the defaults:
// every field set.
type Settings struct {
	Exporter      string
	Endpoint      string // as configured, or from the environment
	Insecure      bool
	CAFile        string
	Headers       map[string]string
	Sampler       Sampler
	Propagators   []string
	ServiceName   string
	QueueSize     int
	BatchSize     int
	BatchTimeout  ir.Duration
	ExportTimeout ir.Duration
}

// Validate returns every problem of c, each naming its field under prefix
// (e.g. "telemetry.tracing").
func (c *Config) Validate(prefix string) error {
	_, err := c.resolve(prefix, func(string) string { return "" })
	return err
}

// Resolve fills c's unset fields from the OTEL_* environment and the
// defaults, and validates the result. Errors name the field, or the
// environment variable a bad value came from.
func (c *Config) Resolve(prefix string) (Settings, error) { return c.resolve(prefix, os.Getenv) }

func (c *Config) resolve(prefix string, env func(string) string) (Settings, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, field, fmt.Sprintf(format, args...)))
	}
	s := Settings{CAFile: c.CAFile, Headers: c.Headers, BatchTimeout: c.BatchTimeout, ExportTimeout: c.ExportTimeout}

	s.Exporter = c.Exporter
	if s.Exporter == "" {
		switch p := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") + env("OTEL_EXPORTER_OTLP_PROTOCOL"); {
		case strings.HasPrefix(p, "http/"):
			s.Exporter = ExporterOTLPHTTP
		default:
			s.Exporter = ExporterOTLPGRPC
		}
	}
	if s.Exporter != ExporterOTLPGRPC && s.Exporter != ExporterOTLPHTTP {
		bad("exporter", "must be %s or %s (got %q)", ExporterOTLPGRPC, ExporterOTLPHTTP, s.Exporter)
	}

	s.Endpoint = c.Endpoint
	field := "endpoint"
	if s.Endpoint == "" {
		s.Endpoint, field = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "endpoint (from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)"
		if s.Endpoint == "" {
			s.Endpoint, field = env("OTEL_EXPORTER_OTLP_ENDPOINT"), "endpoint (from OTEL_EXPORTER_OTLP_ENDPOINT)"
		}
	}
	tlsURL := false
	switch {
	case s.Endpoint == "":
		bad("endpoint", "required: the collector's host:port or URL (or set OTEL_EXPORTER_OTLP_ENDPOINT)")
	default:
		var err error
		if tlsURL, err = checkEndpoint(s.Endpoint); err != nil {
			bad(field, "%v", err)
		}
	}
	s.Insecure = !tlsURL && c.CAFile == ""
	if c.Insecure != nil {
		s.Insecure = *c.Insecure
		if s.Insecure && c.CAFile != "" {
			bad("insecure", "true and caFile set: choose one")
		}
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			bad("headers", "invalid header name %q", k)
		}
	}

	var err error
	if s.Sampler, err = c.sampler(env); err != nil {
		bad("sampleRatio", "%v", err)
	}

	s.Propagators = c.Propagators
	pfield := "propagators"
	if len(s.Propagators) == 0 {
		if v := env("OTEL_PROPAGATORS"); v != "" {
			s.Propagators, pfield = splitList(v), "propagators (from OTEL_PROPAGATORS)"
		} else {
			s.Propagators = []string{TraceContext}
		}
	}
	for i, p := range s.Propagators {
		switch p {
		case TraceContext, B3Single, B3Multi:
		case "baggage", "none":
			// Baggage is not trace context: Pylon passes it on untouched.
		default:
			bad(fmt.Sprintf("%s[%d]", pfield, i), "unknown propagator %q (known: tracecontext, b3, b3multi)", p)
		}
	}

	s.ServiceName = c.ServiceName
	if s.ServiceName == "" {
		if s.ServiceName = env("OTEL_SERVICE_NAME"); s.ServiceName == "" {
			s.ServiceName = "pylon"
		}
	}
	s.QueueSize = intSetting(c.QueueSize, env("OTEL_BSP_MAX_QUEUE_SIZE"), 8192, "queueSize", bad)
	s.BatchSize = intSetting(c.BatchSize, env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), 512, "batchSize", bad)
	if s.BatchSize > s.QueueSize {
		s.BatchSize = s.QueueSize
	}
	if s.BatchTimeout == 0 {
		s.BatchTimeout = msSetting(env("OTEL_BSP_SCHEDULE_DELAY"), 1000, "batchTimeout", bad)
	}
	if s.ExportTimeout == 0 {
		s.ExportTimeout = msSetting(env("OTEL_EXPORTER_OTLP_TIMEOUT"), 10000, "exportTimeout", bad)
	}
	if s.BatchTimeout < 0 {
		bad("batchTimeout", "must not be negative")
	}
	if s.ExportTimeout < 0 {
		bad("exportTimeout", "must not be negative")
	}
	return s, errors.Join(errs...)
}

// checkEndpoint accepts host:port or an http(s) URL with a host, and
// reports whether it asks for TLS.
func checkEndpoint(ep string) (tls bool, err error) {
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil {
			return false, fmt.Errorf("invalid URL %q: %v", ep, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return false, fmt.Errorf("URL scheme must be http or https (got %q)", u.Scheme)
		}
		if u.Host == "" {
			return false, fmt.Errorf("URL %q has no host", ep)
		}
		if _, port, err := net.SplitHostPort(u.Host); err == nil {
			if err := checkPort(port); err != nil {
				return false, err
			}
		}
		return u.Scheme == "https", nil
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return false, fmt.Errorf("must be host:port or an http(s) URL (got %q)", ep)
	}
	if host == "" {
		return false, fmt.Errorf("no host in %q", ep)
	}
	return false, checkPort(port)
}

func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be 1-65535 (got %q)", port)
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func intSetting(v int, envVal string, def int, field string, bad func(string, string, ...any)) int {
	switch {
	case v < 0:
		bad(field, "must not be negative")
		return def
	case v > 0:
		return v
	case envVal != "":
		n, err := strconv.Atoi(envVal)
		if err != nil || n <= 0 {
			bad(field, "from the environment: want a positive number (got %q)", envVal)
			return def
		}
		return n
	}
	return def
}

func msSetting(envVal string, defMS int, field string, bad func(string, string, ...any)) ir.Duration {
	ms := defMS
	if envVal != "" {
		n, err := strconv.Atoi(envVal)
		if err != nil || n < 0 {
			bad(field, "from the environment: want milliseconds (got %q)", envVal)
		} else {
			ms = n
		}
	}
	return ir.Duration(int64(ms) * 1e6)
}
