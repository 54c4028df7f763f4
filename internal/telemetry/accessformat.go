package telemetry

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// An access log field: its name (the JSON key, or $name in a template),
// nginx's name for it where nginx has one, and which value it writes.
type accessField struct {
	name  string
	alias string
	id    fieldID
}

type fieldID uint8

const (
	fTime fieldID = iota
	fRequestID
	fClientIP
	fMethod
	fHost
	fPath
	fProtocol
	fStatus
	fBytesSent
	fDurationMS
	fRoute
	fService
	fUpstream
	fUpstreamStatus
	fUserAgent
	fTries
	fError
	fTraceID
	fRequest
	fQuery
	fTimeLocal
	fRequestTime
	fUpstreamTime
	fConsumer
	fWAF
)

// accessFields is the documented list (docs/configuration.md), in the order
// of the default JSON line; the ones after defaultFields are composites and
// other spellings, for templates and for lines that want them.
var accessFields = []accessField{
	{"time", "time_iso8601", fTime},
	{"request_id", "", fRequestID},
	{"client_ip", "remote_addr", fClientIP},
	{"method", "request_method", fMethod},
	{"host", "", fHost},
	{"path", "uri", fPath},
	{"protocol", "server_protocol", fProtocol},
	{"status", "", fStatus},
	{"bytes_sent", "body_bytes_sent", fBytesSent},
	{"duration_ms", "", fDurationMS},
	{"route", "", fRoute},
	{"service", "", fService},
	{"upstream", "upstream_addr", fUpstream},
	{"upstream_status", "", fUpstreamStatus},
	{"user_agent", "http_user_agent", fUserAgent},
	{"upstream_tries", "", fTries},
	{"error", "", fError},
	{"trace_id", "", fTraceID},
	{"waf", "", fWAF},
	{"request", "", fRequest},
	{"query", "args", fQuery},
	{"time_local", "", fTimeLocal},
	{"request_time", "", fRequestTime},
	{"upstream_response_time", "", fUpstreamTime},
	{"consumer", "", fConsumer},
}

// omitted reports whether a JSON line leaves the field out: the tries of a
// request that took one, the error of one that had none.
func omitted(id fieldID, e *AccessEntry) bool {
	switch id {
	case fTries:
		return len(e.Tries) == 0
	case fError:
		return e.Error == ""
	case fTraceID:
		return len(e.TraceID) == 0
	case fWAF:
		return len(e.WAF) == 0
	}
	return false
}

// appendValue writes a field's value, as JSON or as text. It is a switch,
// not a table of funcs, so that e does not escape: the entry, and what it
// points to, stay on the caller's stack.
func appendValue(b []byte, id fieldID, e *AccessEntry, json bool) []byte {
	str := func(b []byte, v []byte) []byte {
		if json {
			return appendJSONString(b, v)
		}
		return appendText(b, v)
	}
	switch id {
	case fTime:
		if json {
			return append(e.Time.UTC().AppendFormat(append(b, '"'), time.RFC3339Nano), '"')
		}
		return e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	case fRequestID:
		return str(b, e.RequestID)
	case fClientIP:
		if json {
			b = append(b, '"')
			if e.ClientIP.IsValid() {
				b = e.ClientIP.WithZone("").AppendTo(b)
			}
			return append(b, '"')
		}
		if !e.ClientIP.IsValid() {
			return append(b, '-')
		}
		return e.ClientIP.WithZone("").AppendTo(b)
	case fMethod:
		return str(b, e.Method)
	case fHost:
		return str(b, e.Host)
	case fPath:
		return str(b, e.Path)
	case fQuery:
		return str(b, e.Query)
	case fProtocol:
		return str(b, e.Protocol)
	case fStatus:
		return strconv.AppendInt(b, int64(e.Status), 10)
	case fBytesSent:
		return strconv.AppendInt(b, e.BytesSent, 10)
	case fDurationMS:
		return strconv.AppendFloat(b, float64(e.Duration)/float64(time.Millisecond), 'f', 3, 64)
	case fRequestTime:
		return strconv.AppendFloat(b, e.Duration.Seconds(), 'f', 3, 64)
	case fUpstreamTime:
		if e.UpstreamTime <= 0 {
			if json {
				return append(b, "null"...)
			}
			return append(b, '-')
		}
		return strconv.AppendFloat(b, e.UpstreamTime.Seconds(), 'f', 3, 64)
	case fConsumer:
		return str(b, unsafeBytes(e.Consumer))
	case fWAF:
		if !json && len(e.WAF) == 0 {
			return append(b, '-')
		}
		return str(b, e.WAF)
	case fRoute:
		return str(b, unsafeBytes(e.Route))
	case fService:
		return str(b, unsafeBytes(e.Service))
	case fUpstream:
		return str(b, unsafeBytes(e.Upstream))
	case fUpstreamStatus:
		if !json && e.UpstreamStatus == 0 {
			return append(b, '-')
		}
		return strconv.AppendInt(b, int64(e.UpstreamStatus), 10)
	case fUserAgent:
		return str(b, e.UserAgent)
	case fTries:
		if json {
			return appendTriesJSON(b, e)
		}
		return appendTriesText(b, e)
	case fError:
		return str(b, unsafeBytes(e.Error))
	case fTraceID:
		if !json && len(e.TraceID) == 0 {
			return append(b, '-')
		}
		return str(b, e.TraceID)
	case fRequest:
		if json {
			return append(appendRequestLine(append(b, '"'), e, true), '"')
		}
		return appendRequestLine(b, e, false)
	case fTimeLocal:
		const layout = "02/Jan/2006:15:04:05 -0700"
		if json {
			return append(e.Time.Local().AppendFormat(append(b, '"'), layout), '"')
		}
		return e.Time.Local().AppendFormat(b, layout)
	}
	return b
}

// unsafeBytes views s as bytes without copying; the bytes are only read.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// defaultFields is the JSON line the log writes unless told otherwise.
const defaultFields = 19

func appendTriesJSON(b []byte, e *AccessEntry) []byte {
	b = append(b, '[')
	for i, t := range e.Tries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"upstream":`...)
		b = appendJSONString(b, t.Address)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(t.Status), 10)
		if t.Failure != "" {
			b = append(b, `,"failure":`...)
			b = appendJSONString(b, t.Failure)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendTriesText writes the tries as nginx writes $upstream_status over
// several servers: "10.0.0.1:80 503, 10.0.0.2:80 connect".
func appendTriesText(b []byte, e *AccessEntry) []byte {
	if len(e.Tries) == 0 {
		return append(b, '-')
	}
	for i, t := range e.Tries {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendTextInner(b, t.Address)
		b = append(b, ' ')
		if t.Failure != "" {
			b = appendTextInner(b, t.Failure)
		} else {
			b = strconv.AppendInt(b, int64(t.Status), 10)
		}
	}
	return b
}

// appendRequestLine writes nginx's $request: method, path with its query,
// protocol.
func appendRequestLine(b []byte, e *AccessEntry, json bool) []byte {
	inner := func(b, v []byte) []byte {
		if json {
			return appendJSONInner(b, v)
		}
		return appendTextInner(b, v)
	}
	b = append(inner(b, e.Method), ' ')
	b = inner(b, e.Path)
	if len(e.Query) > 0 {
		b = inner(append(b, '?'), e.Query)
	}
	return inner(append(b, ' '), e.Protocol)
}

// appendJSONInner writes s escaped for inside a JSON string.
func appendJSONInner[T ~string | ~[]byte](b []byte, s T) []byte {
	n := len(b)
	q := appendJSONString(b, s)
	// appendJSONString quotes; take the quotes off again.
	return append(q[:n], q[n+1:len(q)-1]...)
}

// appendText writes a value into a text line as nginx does: "-" when it is
// empty, and quotes, backslashes and bytes outside printable ASCII as \xHH,
// so a value can neither break the line nor fake a field.
func appendText[T ~string | ~[]byte](b []byte, v T) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	return appendTextInner(b, v)
}

func appendTextInner[T ~string | ~[]byte](b []byte, s T) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

func findField(name string) (*accessField, bool) {
	for i := range accessFields {
		if f := &accessFields[i]; f.name == name || (f.alias != "" && f.alias == name) {
			return f, true
		}
	}
	return nil, false
}

// AccessFieldNames lists the fields a line can hold, with nginx's names
// for them in brackets.
func AccessFieldNames() string {
	var names []string
	for _, f := range accessFields {
		n := f.name
		if f.alias != "" {
			n += " ($" + f.alias + ")"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// AccessFormat is how the access log writes a line: JSON with chosen
// fields, or text from a template. The zero value is not valid; build one
// with JSONAccessFormat or TextAccessFormat.
type AccessFormat struct {
	fields []*accessField // JSON: the fields, in order
	keys   []string       // JSON: their keys, as the user named them
	text   []textPiece    // text: the template
	sample float64        // the share of lines below 400 kept; 1 keeps all
}

type textPiece struct {
	lit   string
	field *accessField
}

// JSONAccessFormat writes a JSON object per line with the named fields, in
// that order, under the names given; none names the default line.
func JSONAccessFormat(fields []string) (*AccessFormat, error) {
	f := &AccessFormat{sample: 1}
	if len(fields) == 0 {
		for i := range accessFields[:defaultFields] {
			f.fields = append(f.fields, &accessFields[i])
			f.keys = append(f.keys, accessFields[i].name)
		}
		return f, nil
	}
	for _, name := range fields {
		af, ok := findField(name)
		if !ok {
			return nil, fmt.Errorf("unknown field %q (known: %s)", name, AccessFieldNames())
		}
		if slices.Contains(f.keys, name) {
			return nil, fmt.Errorf("field %q named twice", name)
		}
		f.fields = append(f.fields, af)
		f.keys = append(f.keys, name)
	}
	return f, nil
}

// TextAccessFormat writes one line per request from tmpl: $name or ${name}
// is a field's value (nginx's names work too: $remote_addr, $request,
// $body_bytes_sent), $$ a dollar sign, and the rest is written as it is.
func TextAccessFormat(tmpl string) (*AccessFormat, error) {
	f := &AccessFormat{sample: 1}
	if strings.ContainsAny(tmpl, "\r\n") {
		return nil, fmt.Errorf("template: must be one line")
	}
	var lit strings.Builder
	for i := 0; i < len(tmpl); {
		c := tmpl[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(tmpl) && tmpl[i+1] == '$' {
			lit.WriteByte('$')
			i += 2
			continue
		}
		var name string
		if i+1 < len(tmpl) && tmpl[i+1] == '{' {
			end := strings.IndexByte(tmpl[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("template: unclosed ${ at byte %d", i)
			}
			name, i = tmpl[i+2:i+2+end], i+3+end
		} else {
			j := i + 1
			for j < len(tmpl) && (tmpl[j] == '_' || tmpl[j] >= 'a' && tmpl[j] <= 'z' || tmpl[j] >= '0' && tmpl[j] <= '9') {
				j++
			}
			name, i = tmpl[i+1:j], j
		}
		if name == "" {
			return nil, fmt.Errorf("template: a $ without a field name at byte %d (write $$ for a dollar sign)", i-1)
		}
		af, ok := findField(name)
		if !ok {
			return nil, fmt.Errorf("template: unknown field $%s (known: %s)", name, AccessFieldNames())
		}
		if lit.Len() > 0 {
			f.text = append(f.text, textPiece{lit: lit.String()})
			lit.Reset()
		}
		f.text = append(f.text, textPiece{field: af})
	}
	if lit.Len() > 0 {
		f.text = append(f.text, textPiece{lit: lit.String()})
	}
	if len(f.text) == 0 {
		return nil, fmt.Errorf("template: must not be empty")
	}
	return f, nil
}

// DefaultTextTemplate is nginx's "combined" format in Pylon's fields, with
// the request time, the upstream and the route after it.
const DefaultTextTemplate = `$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "-" "$http_user_agent" $request_time $upstream_addr $upstream_status $route`

// WithSample keeps only this share (0-1) of the lines of answers below
// 400; every 4xx and 5xx is kept.
func (f *AccessFormat) WithSample(share float64) (*AccessFormat, error) {
	if !(share >= 0 && share <= 1) {
		return nil, fmt.Errorf("sample: must be between 0 and 1 (got %v)", share)
	}
	c := *f
	c.sample = share
	return &c, nil
}

// keep decides whether e is written.
func (f *AccessFormat) keep(e *AccessEntry) bool { return sampled(e, f.sample) }

// sampled decides whether e's line is kept when share of the lines below
// 400 are.
func sampled(e *AccessEntry, share float64) bool {
	return share >= 1 || e.Status >= 400 || rand.Float64() < share
}

func (f *AccessFormat) append(b []byte, e *AccessEntry) []byte {
	if f.text != nil {
		for _, p := range f.text {
			if p.field == nil {
				b = append(b, p.lit...)
			} else {
				b = appendValue(b, p.field.id, e, false)
			}
		}
		return append(b, '\n')
	}
	b = append(b, '{')
	first := true
	for i, af := range f.fields {
		if omitted(af.id, e) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, f.keys[i])
		b = append(b, ':')
		b = appendValue(b, af.id, e, true)
	}
	return append(b, "}\n"...)
}
