package telemetry

import (
	"errors"
	"fmt"
	"math"

	"pylon.io/pylon/internal/telemetry/tracing"
)

// Config is the `telemetry:` block of a config file: tracing, and where
// and how the access log goes. It is a setting of the process, not an
// object: one block for the whole config, read at start and again on
// SIGHUP.
type Config struct {
	Tracing   *tracing.Config  `json:"tracing,omitempty" yaml:"tracing,omitempty"`
	AccessLog *AccessLogConfig `json:"accessLog,omitempty" yaml:"accessLog,omitempty"`
}

// AccessLogConfig is the access log part of the telemetry block. It takes
// the place of the --access-log flags.
type AccessLogConfig struct {
	// Enabled turns the log on (the default when the block is present).
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// Format is json (the default) or text.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	// Fields picks a JSON line's fields (docs/telemetry.md lists them).
	Fields []string `json:"fields,omitempty" yaml:"fields,omitempty"`
	// Template is a text line, with $field (nginx's names work too).
	Template string `json:"template,omitempty" yaml:"template,omitempty"`
	// Sample keeps this share (0-1) of the lines of answers below 400;
	// 4xx and 5xx lines are always kept.
	Sample *float64 `json:"sample,omitempty" yaml:"sample,omitempty"`
	// Sinks are where lines go; stdout alone when empty.
	Sinks []SinkConfig `json:"sinks,omitempty" yaml:"sinks,omitempty"`
}

// SinkConfig is one access log sink: exactly one of its fields is set.
type SinkConfig struct {
	Stdout *struct{}        `json:"stdout,omitempty" yaml:"stdout,omitempty"`
	File   *FileSinkConfig  `json:"file,omitempty" yaml:"file,omitempty"`
	Kafka  *KafkaSinkConfig `json:"kafka,omitempty" yaml:"kafka,omitempty"`
}

// FileSinkConfig is a file the log appends to; SIGUSR1 reopens it (for
// logrotate).
type FileSinkConfig struct {
	Path string `json:"path" yaml:"path"`
}

// On reports whether the block turns the access log on.
func (a *AccessLogConfig) On() bool { return a.Enabled == nil || *a.Enabled }

// Validate returns every problem of the block, each naming its field
// (telemetry.tracing.sampleRatio, telemetry.accessLog.sinks[1].kafka.brokers).
func (c *Config) Validate() error {
	var errs []error
	if c.Tracing != nil {
		errs = append(errs, c.Tracing.Validate("telemetry.tracing"))
	}
	if a := c.AccessLog; a != nil {
		if _, err := a.LineFormat(); err != nil {
			errs = append(errs, err)
		}
		stdout := 0
		for i, s := range a.Sinks {
			field := fmt.Sprintf("telemetry.accessLog.sinks[%d]", i)
			n := 0
			if s.Stdout != nil {
				n++
				stdout++
			}
			if s.File != nil {
				n++
				if s.File.Path == "" {
					errs = append(errs, fmt.Errorf("%s.file.path: required", field))
				}
			}
			if s.Kafka != nil {
				n++
				errs = append(errs, s.Kafka.Validate(field+".kafka"))
			}
			switch {
			case n == 0:
				errs = append(errs, fmt.Errorf("%s: set one of stdout, file, kafka", field))
			case n > 1:
				errs = append(errs, fmt.Errorf("%s: set only one of stdout, file, kafka", field))
			}
		}
		if stdout > 1 {
			errs = append(errs, errors.New("telemetry.accessLog.sinks: stdout listed more than once"))
		}
	}
	return errors.Join(errs...)
}

// LineFormat builds the line format the block asks for, nil for the default
// JSON line. Errors name the field.
func (a *AccessLogConfig) LineFormat() (*AccessFormat, error) {
	var f *AccessFormat
	var err error
	switch a.Format {
	case "", "json":
		if a.Template != "" {
			return nil, errors.New("telemetry.accessLog.template: only with format text")
		}
		if len(a.Fields) == 0 && a.Sample == nil {
			return nil, nil
		}
		if f, err = JSONAccessFormat(a.Fields); err != nil {
			return nil, fmt.Errorf("telemetry.accessLog.fields: %w", err)
		}
	case "text":
		if len(a.Fields) > 0 {
			return nil, errors.New("telemetry.accessLog.fields: only with format json (a text line's fields are in template)")
		}
		tmpl := a.Template
		if tmpl == "" {
			tmpl = DefaultTextTemplate
		}
		if f, err = TextAccessFormat(tmpl); err != nil {
			return nil, fmt.Errorf("telemetry.accessLog.template: %w", err)
		}
	default:
		return nil, fmt.Errorf("telemetry.accessLog.format: must be json or text (got %q)", a.Format)
	}
	if a.Sample != nil {
		if math.IsNaN(*a.Sample) {
			return nil, errors.New("telemetry.accessLog.sample: must be between 0 and 1")
		}
		if f, err = f.WithSample(*a.Sample); err != nil {
			return nil, fmt.Errorf("telemetry.accessLog.sample: %w", err)
		}
	}
	return f, nil
}
