package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// clientConfig is where the admin API is and the key to it. The first that
// is set wins, as for `pylon run`'s key: a flag (--server; --key or
// --key-file), then $PYLON_ADMIN_ADDRESS / $PYLON_ADMIN_KEY, then the small
// config file (~/.config/pylon/cli.yaml: `server: http://127.0.0.1:9180`
// and `key: …`).
type clientConfig struct {
	Server string `yaml:"server"`
	Key    string `yaml:"key"`
}

// keyFlags are the client's key flags; keyFile is the file `pylon run
// --admin-key-file` reads.
type keyFlags struct{ key, keyFile string }

func (k keyFlags) value() (string, error) {
	switch {
	case k.key != "" && k.keyFile != "":
		return "", fmt.Errorf("--key and --key-file both given: pass one")
	case k.keyFile != "":
		b, err := os.ReadFile(k.keyFile)
		if err != nil {
			return "", fmt.Errorf("--key-file: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("--key-file %s is empty", k.keyFile)
		}
		return key, nil
	}
	return k.key, nil
}

func loadClientConfig(server string, keys keyFlags, file string) (clientConfig, error) {
	var c clientConfig
	if file == "" {
		if d, err := os.UserConfigDir(); err == nil {
			file = filepath.Join(d, "pylon", "cli.yaml")
		}
	}
	if b, err := os.ReadFile(file); err == nil {
		if err := yaml.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("%s: %w", file, err)
		}
	}
	if v := os.Getenv("PYLON_ADMIN_ADDRESS"); v != "" {
		c.Server = v
	}
	if v := os.Getenv("PYLON_ADMIN_KEY"); v != "" {
		c.Key = v
	}
	if server != "" {
		c.Server = server
	}
	key, err := keys.value()
	if err != nil {
		return c, err
	}
	if key != "" {
		c.Key = key
	}
	if c.Server == "" {
		c.Server = "http://127.0.0.1:9180"
	}
	if !strings.Contains(c.Server, "://") {
		c.Server = "http://" + c.Server
	}
	c.Key = strings.TrimSpace(c.Key)
	if c.Key == "" {
		return c, fmt.Errorf("no admin API key: pass --key or --key-file, set PYLON_ADMIN_KEY, or put `key:` in %s", file)
	}
	return c, nil
}

// apiClient calls the admin API.
type apiClient struct {
	cfg  clientConfig
	http *http.Client
}

func (c *apiClient) do(method, path string, body any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(c.cfg.Server, "/")+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return b, resp.StatusCode, apiError(resp.StatusCode, b)
	}
	return b, resp.StatusCode, nil
}

// apiError renders an error answer with every problem on its own line.
func apiError(code int, body []byte) error {
	var e struct {
		Error    string `json:"error"`
		Message  string `json:"message"`
		Problems []struct {
			Item, Object, Field, Message string
		} `json:"problems"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return fmt.Errorf("%d %s: %s", code, http.StatusText(code), strings.TrimSpace(string(body)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s", code, e.Error)
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		if p.Item != "" {
			b.WriteString(p.Item + " ")
		}
		b.WriteString(p.Object)
		if p.Field != "" {
			b.WriteString(": " + p.Field)
		}
		b.WriteString(": " + p.Message)
	}
	return fmt.Errorf("%s", b.String())
}

func newAPIClient(cfg clientConfig) *apiClient {
	return &apiClient{cfg: cfg, http: &http.Client{Timeout: 60 * time.Second}}
}
