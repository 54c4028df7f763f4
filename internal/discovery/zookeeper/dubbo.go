package zookeeper

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A Dubbo provider node is named with the provider's URL, encoded whole
// as java.net.URLEncoder does (so "://", "?", "&" and "=" appear as %3A%2F%2F,
// %3F, %26 and %3D):
//
//	dubbo%3A%2F%2F10.0.0.1%3A20880%2Forg.apache.dubbo.demo.DemoService%3Fanyhost%3Dtrue%26weight%3D100...
//
// Decoded, it is protocol://[user[:password]@]host:port/path?k=v&k=v, with
// the parameters written raw (a value cannot hold "&"). The node's data is
// not used (Curator, which Dubbo writes through, puts the local IP there).

// decodeDubbo reads a provider node's name.
func decodeDubbo(name string) (record, error) {
	if len(name) > maxNodeName {
		return record{}, fmt.Errorf("node name of %d bytes is over the bound of %d", len(name), maxNodeName)
	}
	u, err := javaURLDecode(name)
	if err != nil {
		return record{}, err
	}
	body, query, _ := strings.Cut(u, "?")
	proto, rest, ok := strings.Cut(body, "://")
	if !ok || proto == "" {
		return record{}, errors.New("not a protocol://host:port/... URL")
	}
	if proto == "empty" { // Dubbo's marker for "no providers"; never an instance
		return record{}, errors.New("an empty:// URL is not a provider")
	}
	hostport, _, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(hostport, '@'); i >= 0 {
		hostport = hostport[i+1:]
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return record{}, err
	}
	r := record{node: name, host: host, port: port, params: dubboParams(query)}
	// Dubbo's RegistryDirectory: a "disabled" parameter decides when it is
	// set, otherwise "enabled" (default true); both as Boolean.parseBoolean.
	if d := r.params["disabled"]; d != "" {
		r.enabled = !strings.EqualFold(d, "true")
	} else {
		e := r.params["enabled"]
		r.enabled = e == "" || strings.EqualFold(e, "true")
	}
	return r, nil
}

// splitHostPort splits "10.0.0.1:20880", "[::1]:20880" and the unbracketed
// IPv6 form Java writes ("0:0:0:0:0:0:0:1:20880") at the last colon.
func splitHostPort(hp string) (string, int, error) {
	host, port := hp, ""
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 || !strings.HasPrefix(hp[end+1:], ":") {
			return "", 0, fmt.Errorf("address %q is not [host]:port", hp)
		}
		host, port = hp[1:end], hp[end+2:]
	} else if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		host, port = hp[:i], hp[i+1:]
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("address %q has no port in 1-65535", hp)
	}
	if !validHost(host) {
		return "", 0, fmt.Errorf("address %q has no valid host", hp)
	}
	return host, n, nil
}

// dubboParams reads k=v pairs separated by "&" (or ";"). A "default."
// prefix, which Dubbo before 2.7 wrote, also sets the unprefixed key when
// that is not set itself.
func dubboParams(q string) map[string]string {
	out := map[string]string{}
	var legacy [][2]string
	for kv := range strings.FieldsFuncSeq(q, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		out[k] = v
		if short, ok := strings.CutPrefix(k, "default."); ok && short != "" {
			legacy = append(legacy, [2]string{short, v})
		}
	}
	for _, kv := range legacy {
		if _, set := out[kv[0]]; !set {
			out[kv[0]] = kv[1]
		}
	}
	return out
}

// javaURLDecode decodes as java.net.URLDecoder.decode(s, "UTF-8"): "+" is a
// space and %XX a byte. The result may not be UTF-8; the caller checks.
func javaURLDecode(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
				return "", fmt.Errorf("bad %%-escape at byte %d", i)
			}
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b), nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// javaURLEncode encodes as java.net.URLEncoder.encode(s, "UTF-8"), which is
// how Dubbo names an interface's node: letters, digits and ".-*_" stay, a
// space becomes "+", any other byte %XX.
func javaURLEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '*', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
