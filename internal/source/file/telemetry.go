package file

import (
	"errors"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/telemetry"
)

// telemetryKey is the top-level key of the telemetry block. It is not a
// section of objects: the block is a setting of the process, read with
// LoadTelemetry at start and on SIGHUP, and the object parser skips it.
const telemetryKey = "telemetry"

// LoadTelemetry reads the telemetry block from the config file or
// directory at path: nil when no file has one. Two blocks, an unknown
// field or a bad value are errors naming the file, line and field.
func LoadTelemetry(path string) (*telemetry.Config, error) {
	cfg, _, err := loadSetting(path, telemetryKey, decodeTelemetry)
	return cfg, err
}

// decodeTelemetry decodes and checks the block; an empty one is the
// defaults.
func decodeTelemetry(n *yaml.Node) (*telemetry.Config, error) {
	var c telemetry.Config
	if isNull(n) {
		return &c, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, errors.New("telemetry: must be a mapping with keys tracing, accessLog")
	}
	if err := decodeStrict(n, telemetryKey, &c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
