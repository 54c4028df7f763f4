package ir

// Config is one document's worth of resources, as written in a YAML file or
// sent to the admin API in a batch.
type Config struct {
	Listeners    []*Listener    `json:"listeners,omitempty" yaml:"listeners,omitempty"`
	Services     []*Service     `json:"services,omitempty" yaml:"services,omitempty"`
	Routes       []*Route       `json:"routes,omitempty" yaml:"routes,omitempty"`
	Certificates []*Certificate `json:"certificates,omitempty" yaml:"certificates,omitempty"`
}

// Resources returns every resource in c.
func (c *Config) Resources() []Resource {
	var out []Resource
	for _, x := range c.Listeners {
		out = append(out, x)
	}
	for _, x := range c.Services {
		out = append(out, x)
	}
	for _, x := range c.Routes {
		out = append(out, x)
	}
	for _, x := range c.Certificates {
		out = append(out, x)
	}
	return out
}
