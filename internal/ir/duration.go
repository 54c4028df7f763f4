package ir

import (
	"encoding/json"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as a Go duration string ("5s", "250ms")
// in YAML and JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "5s" (or a bare number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration must be a string like \"5s\" or a number of seconds")
		}
		return d.fromSeconds(secs)
	}
	return d.parse(s)
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads "5s" (or a bare number of seconds).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration must be a string like \"5s\"", n.Line)
	}
	var secs float64
	if n.Tag == "!!int" || n.Tag == "!!float" {
		if err := n.Decode(&secs); err == nil {
			if err := d.fromSeconds(secs); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			return nil
		}
	}
	if err := d.parse(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"5s\", \"250ms\")", s)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: negative", s)
	}
	*d = Duration(v)
	return nil
}

// maxSeconds keeps a duration in seconds inside time.Duration's range.
const maxSeconds = float64(1<<63-1) / float64(time.Second)

func (d *Duration) fromSeconds(secs float64) error {
	if secs != secs || secs < 0 || secs > maxSeconds {
		return fmt.Errorf("invalid duration %v seconds: must be 0 to %.0f", secs, maxSeconds)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}
