package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"pylon.io/pylon/test/e2e/backends"
	"pylon.io/pylon/test/testenv"
)

// response is what a client saw.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// echo decodes the body as the echo backend's JSON.
func (r response) echo(t testing.TB) backends.Echo {
	t.Helper()
	var e backends.Echo
	if err := json.Unmarshal([]byte(r.Body), &e); err != nil {
		t.Fatalf("body is not an echo (%d): %v\n%s", r.Status, err, r.Body)
	}
	return e
}

// newClient returns a Go HTTP/1.1 client that does not follow redirects.
func newClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 16},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request with the given Host and headers ("Name: value").
func do(t testing.TB, c *http.Client, method, url, host string, headers ...string) response {
	t.Helper()
	r, err := tryDo(c, method, url, host, headers...)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, url, host, err)
	}
	return r
}

func tryDo(c *http.Client, method, url, host string, headers ...string) (response, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return response{}, err
	}
	if host != "" {
		req.Host = host
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, nil
}

// curl runs curl with args plus -sS and -D - and parses the status line,
// headers and body of the last response it printed.
func curl(t testing.TB, args ...string) response {
	t.Helper()
	bin := testenv.Tool(t, "curl")
	argv := append([]string{"-sS", "--max-time", "10", "-D", "-"}, args...)
	out, err := exec.Command(bin, argv...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("curl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return parseCurl(t, string(out))
}

func parseCurl(t testing.TB, out string) response {
	t.Helper()
	var r response
	rest := out
	for {
		head, body, ok := strings.Cut(rest, "\r\n\r\n")
		if !ok {
			t.Fatalf("curl printed no header block:\n%s", out)
		}
		lines := strings.Split(head, "\r\n")
		f := strings.Fields(lines[0])
		if len(f) < 2 {
			t.Fatalf("bad status line %q", lines[0])
		}
		r.Status, _ = strconv.Atoi(f[1])
		r.Header = http.Header{}
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ":")
			r.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		r.Body = body
		rest = body
		// An interim 1xx response is followed by the real one.
		if r.Status >= 200 || !strings.HasPrefix(body, "HTTP/") {
			return r
		}
	}
}
