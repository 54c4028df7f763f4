package consul

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// maxBody bounds one health answer: 4,096 instances with a few checks of
// Consul's default 4 KB output each fit.
const maxBody = 64 << 20

// agents is the HTTP API of the configured agents, tried in turn from the
// last one that answered.
type agents struct {
	servers []string // host:port
	scheme  string
	token   string
	client  *http.Client

	mu   sync.Mutex
	next int
}

func newAgents(c Config) (*agents, error) {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: c.Timeout.D(), KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: c.Timeout.D(),
		// Each watch holds a connection through its blocking query; keep
		// them for reuse rather than Go's default of two per host.
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	if c.Scheme == "https" {
		t := c.TLS
		if t == nil {
			t = &TLS{}
		}
		cfg, err := api.SetupTLSConfig(&api.TLSConfig{Address: t.ServerName, CAFile: t.CAFile,
			CertFile: t.CertFile, KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify})
		if err != nil {
			return nil, fmt.Errorf("consul: tls: %w", err)
		}
		cfg.MinVersion = tls.VersionTLS12
		tr.TLSClientConfig = cfg
		tr.ForceAttemptHTTP2 = true
	}
	return &agents{servers: c.Servers, scheme: c.Scheme, token: c.Token, client: &http.Client{Transport: tr}}, nil
}

// current returns the server to ask first.
func (a *agents) current() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.servers[a.next]
}

// inTurn returns the servers in the order to try them.
func (a *agents) inTurn() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append(a.servers[a.next:len(a.servers):len(a.servers)], a.servers[:a.next]...)
}

// answered makes server the one to ask first.
func (a *agents) answered(server string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, s := range a.servers {
		if s == server {
			a.next = i
		}
	}
}

// failover moves past server, when it is still the one to ask first, and
// returns the server to ask next.
func (a *agents) failover(server string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.servers[a.next] == server {
		a.next = (a.next + 1) % len(a.servers)
	}
	return a.servers[a.next]
}

// answer is a 200 OK from an agent.
type answer struct {
	body     []byte
	index    uint64 // X-Consul-Index; 0 when the answer has none
	filtered bool   // the ACL token hid some of the results
}

// get GETs path with the query v from server.
func (a *agents) get(ctx context.Context, server, path string, v url.Values) (answer, error) {
	u := url.URL{Scheme: a.scheme, Host: server, Path: path, RawQuery: v.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return answer{}, err
	}
	if a.token != "" {
		req.Header.Set("X-Consul-Token", a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // the URL is in the caller's message already
		}
		return answer{}, a.redact(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return answer{}, a.redact(err)
	}
	if len(body) > maxBody {
		return answer{}, fmt.Errorf("answer larger than %d bytes", maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		return answer{}, a.redact(statusError(resp.StatusCode, body))
	}
	index, _ := strconv.ParseUint(resp.Header.Get("X-Consul-Index"), 10, 64)
	return answer{body: body, index: index, filtered: resp.Header.Get("X-Consul-Results-Filtered-By-ACLs") == "true"}, nil
}

// statusError says what a refusal means; Consul's body is its reason.
func statusError(code int, body []byte) error {
	reason := strings.TrimSpace(string(body))
	if len(reason) > 200 {
		reason = reason[:200] + "..."
	}
	switch code {
	case http.StatusForbidden:
		return fmt.Errorf("permission denied (403 %s): the ACL token is missing, unknown or lacks service:read and node:read", reason)
	case http.StatusUnauthorized:
		return fmt.Errorf("unauthorized (401 %s): the ACL token is not accepted", reason)
	default:
		return fmt.Errorf("status %d: %s", code, reason)
	}
}

// redact takes the token out of an error's text. Consul gets the token in
// a header, so no URL holds it, but an agent's reason or a proxy's error
// page could echo it.
func (a *agents) redact(err error) error {
	if a.token == "" || err == nil || !strings.Contains(err.Error(), a.token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), a.token, "[token]"))
}

func (a *agents) close() { a.client.CloseIdleConnections() }
