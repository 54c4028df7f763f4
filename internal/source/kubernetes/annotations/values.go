package annotations

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
)

// parseBool accepts what ingress-nginx accepts (Go's strconv.ParseBool).
func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("must be true or false (got %q)", v)
	}
	return b, nil
}

// parseInt reads a decimal integer in [lo, hi].
func parseInt(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("must be an integer %d-%d (got %q)", lo, hi, v)
	}
	return n, nil
}

// maxTimeout bounds timeouts: nginx accepts more, but a day is already
// beyond any sane proxy timeout and keeps arithmetic far from overflow.
const maxTimeout = 24 * time.Hour

// parseSeconds reads an nginx time: a bare number of seconds ("60") or a
// number with a unit ("500ms", "5s", "2m", "1h"). Zero is refused: nginx
// would treat it as "time out at once".
func parseSeconds(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	var d time.Duration
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > int(maxTimeout/time.Second) {
			return 0, fmt.Errorf("must be 1-%d seconds (got %q)", int(maxTimeout/time.Second), v)
		}
		d = time.Duration(n) * time.Second
	} else {
		pd, err := time.ParseDuration(s)
		if err != nil || pd <= 0 || pd > maxTimeout {
			return 0, fmt.Errorf("must be seconds (\"60\") or a duration (\"500ms\", \"5s\") up to 24h (got %q)", v)
		}
		d = pd
	}
	return d, nil
}

// parseSize reads an nginx size: bytes, or a number with k, m or g
// (case-insensitive). "0" means unlimited and is returned as 0.
func parseSize(v string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k':
			mult, s = 1<<10, s[:len(s)-1]
		case 'm':
			mult, s = 1<<20, s[:len(s)-1]
		case 'g':
			mult, s = 1<<30, s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("must be a size like \"8m\", \"512k\" or \"0\" for unlimited (got %q)", v)
	}
	return n * mult, nil
}

// parseCIDRs reads a comma-separated list of IP addresses and CIDR ranges.
func parseCIDRs(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR range", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("must list at least one IP address or CIDR range")
	}
	return out, nil
}

// parseStatusList reads a comma-separated list of HTTP status codes.
func parseStatusList(v string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%q is not a status code %d-%d", f, lo, hi)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("must list at least one status code")
	}
	return out, nil
}

// splitList splits a comma-separated list, trimming blanks and dropping
// empty items.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// plainText reports whether s is safe to copy into a header or a path:
// printable ASCII without spaces or control bytes.
func plainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

// hostName reports whether s is a DNS name, optionally "*." + one.
func hostName(s string) bool {
	name := strings.TrimPrefix(s, "*.")
	if name == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i] | 0x20
			if !(c >= 'a' && c <= 'z' || label[i] >= '0' && label[i] <= '9' || label[i] == '-') {
				return false
			}
		}
	}
	return true
}

// tokenText reports whether s is an RFC 9110 token (header or cookie name).
func tokenText(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// checkRegex checks a Go (RE2) regular expression and explains a bad one on
// one line, quoting the expression (it may hold newlines).
func checkRegex(v string) error {
	_, err := regexp.Compile(v)
	var se *syntax.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return fmt.Errorf("invalid regular expression %q: %s %q", v, se.Code, se.Expr)
	}
	return fmt.Errorf("invalid regular expression %q", v)
}
