package telemetry

import "pylon.io/pylon/internal/telemetry/kafkasink"

// KafkaSinkConfig is a `kafka:` access log sink (see kafkasink.Config).
type KafkaSinkConfig = kafkasink.Config
