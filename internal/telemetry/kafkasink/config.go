// Package kafkasink sends access log lines to Kafka through franz-go. Lines
// wait in a bounded buffer and leave in batches, off the request path: a
// line that does not fit is dropped and counted, never waited for. The
// client reconnects by itself after broker restarts and metadata changes.
package kafkasink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"pylon.io/pylon/internal/ir"
)

// Config is a `kafka:` access log sink.
type Config struct {
	// Brokers are the seed brokers, host:port; at least one.
	Brokers []string `json:"brokers" yaml:"brokers"`
	// Topic receives the lines.
	Topic string `json:"topic" yaml:"topic"`
	// Key names the access log field whose value is the record key, so one
	// partition gets every line of, say, one host (`host`, `route`,
	// `remote_addr`). Without it lines spread over the partitions.
	Key string `json:"key,omitempty" yaml:"key,omitempty"`
	// ClientID is the Kafka client id; "pylon" by default.
	ClientID string `json:"clientID,omitempty" yaml:"clientID,omitempty"`
	// QueueLines and QueueBytes bound the lines waiting to be sent
	// (defaults 10,000 and 16 MiB). A line past either is dropped.
	QueueLines int   `json:"queueLines,omitempty" yaml:"queueLines,omitempty"`
	QueueBytes int64 `json:"queueBytes,omitempty" yaml:"queueBytes,omitempty"`
	// Linger is how long a batch waits for more lines (default 10ms).
	Linger ir.Duration `json:"linger,omitempty" yaml:"linger,omitempty"`
	// DeliveryTimeout is how long a line may wait for a broker before it is
	// given up (default 2m); the buffer bound applies meanwhile.
	DeliveryTimeout ir.Duration `json:"deliveryTimeout,omitempty" yaml:"deliveryTimeout,omitempty"`
	// Compression is none, gzip, snappy (the default), lz4 or zstd.
	Compression string `json:"compression,omitempty" yaml:"compression,omitempty"`
	// Acks is all (the default), leader or none.
	Acks string     `json:"acks,omitempty" yaml:"acks,omitempty"`
	SASL *SASL      `json:"sasl,omitempty" yaml:"sasl,omitempty"`
	TLS  *TLSConfig `json:"tls,omitempty" yaml:"tls,omitempty"`
}

// SASL authenticates to the brokers. The password comes from Password or,
// better, PasswordFile; it is never printed.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism    string `json:"mechanism" yaml:"mechanism"`
	Username     string `json:"username" yaml:"username"`
	Password     string `json:"password,omitempty" yaml:"password,omitempty"`
	PasswordFile string `json:"passwordFile,omitempty" yaml:"passwordFile,omitempty"`
}

// TLSConfig turns TLS to the brokers on. Without CAFile the system roots
// are trusted; CertFile and KeyFile are a client certificate.
type TLSConfig struct {
	CAFile     string `json:"caFile,omitempty" yaml:"caFile,omitempty"`
	CertFile   string `json:"certFile,omitempty" yaml:"certFile,omitempty"`
	KeyFile    string `json:"keyFile,omitempty" yaml:"keyFile,omitempty"`
	ServerName string `json:"serverName,omitempty" yaml:"serverName,omitempty"`
}

const (
	defaultQueueLines      = 10000
	defaultQueueBytes      = 16 << 20
	defaultLinger          = 10 * time.Millisecond
	defaultDeliveryTimeout = 2 * time.Minute
)

// String describes the sink without its secrets.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka brokers=%s topic=%s", strings.Join(c.Brokers, ","), c.Topic)
	if c.SASL != nil {
		fmt.Fprintf(&b, " sasl=%s user=%s password=[redacted]", c.SASL.Mechanism, c.SASL.Username)
	}
	if c.TLS != nil {
		b.WriteString(" tls=on")
	}
	return b.String()
}

// LogValue keeps a logged config free of its secrets.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// GoString keeps %#v from printing the password too.
func (c Config) GoString() string { return c.String() }

// String and GoString of SASL never show the password.
func (s SASL) String() string {
	return fmt.Sprintf("{mechanism:%s username:%s password:[redacted]}", s.Mechanism, s.Username)
}
func (s SASL) GoString() string { return s.String() }

// LogValue keeps a logged SASL block free of its password.
func (s SASL) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Validate returns every problem of c, each naming its field under prefix
// (telemetry.accessLog.sinks[2].kafka).
func (c Config) Validate(prefix string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, field, fmt.Sprintf(format, args...)))
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "at least one broker (host:port) is required")
	}
	for i, b := range c.Brokers {
		if err := checkHostPort(b); err != nil {
			bad(fmt.Sprintf("brokers[%d]", i), "%v", err)
		}
	}
	switch {
	case c.Topic == "":
		bad("topic", "required")
	case !validTopic(c.Topic):
		bad("topic", "%q is not a Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)", c.Topic)
	}
	if c.QueueLines < 0 {
		bad("queueLines", "must not be negative")
	}
	if c.QueueBytes < 0 {
		bad("queueBytes", "must not be negative")
	}
	if c.Linger < 0 || c.Linger.D() > time.Minute {
		bad("linger", "must be between 0 and 1m")
	}
	if c.DeliveryTimeout < 0 {
		bad("deliveryTimeout", "must not be negative")
	}
	switch c.Compression {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("compression", "must be none, gzip, snappy, lz4 or zstd (got %q)", c.Compression)
	}
	switch c.Acks {
	case "", "all", "leader", "none":
	default:
		bad("acks", "must be all, leader or none (got %q)", c.Acks)
	}
	if s := c.SASL; s != nil {
		switch s.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			bad("sasl.mechanism", "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (got %q)", s.Mechanism)
		}
		if s.Username == "" {
			bad("sasl.username", "required")
		}
		switch {
		case s.Password != "" && s.PasswordFile != "":
			bad("sasl", "set password or passwordFile, not both")
		case s.Password == "" && s.PasswordFile == "":
			bad("sasl.password", "required (or passwordFile)")
		}
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls", "certFile and keyFile go together")
	}
	return errors.Join(errs...)
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be 1-65535", s)
	}
	return nil
}

func validTopic(t string) bool {
	if len(t) > 249 || t == "." || t == ".." {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// password reads the SASL password, from its file when it has one.
func (s *SASL) password() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("sasl.passwordFile: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (t *TLSConfig) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.caFile: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.caFile: %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.certFile: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
