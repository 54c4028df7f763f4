package file

import (
	"errors"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/discovery/providers"
)

// discoveryKey is the top-level key of the discovery provider list. Like
// telemetry it is a setting of the process, not objects: the providers are
// connections the process holds (one per registry, shared by every
// service), opened at start, and the list is read with LoadDiscovery; the
// object parser skips it. Services name a provider by its entry's name.
const discoveryKey = "discovery"

// LoadDiscovery reads the discovery list from the config file or
// directory at path: nil when no file has one. Two lists, an unknown
// field or a bad value are errors naming the file, line and field.
func LoadDiscovery(path string) ([]providers.Config, error) {
	list, _, err := loadSetting(path, discoveryKey, decodeDiscovery)
	return list, err
}

// decodeDiscovery decodes and checks the list.
func decodeDiscovery(n *yaml.Node) ([]providers.Config, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, errors.New("discovery: must be a list of providers (each a name and one provider block)")
	}
	var list []providers.Config
	if err := decodeStrict(n, discoveryKey, &list); err != nil {
		return nil, err
	}
	if err := providers.Validate(list); err != nil {
		return nil, err
	}
	return list, nil
}
