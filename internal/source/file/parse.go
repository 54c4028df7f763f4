package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"pylon.io/pylon/internal/ir"
)

// ParseFile parses one file's bytes. Each object is decoded on its own: a
// malformed object (unknown field, wrong type, failing Validate) yields an
// error and no Entry, and does not affect its siblings. Whole-file problems
// (YAML syntax) yield one error and no entries. Every error is an *Error
// reading `FILE:LINE: route "echo": match.path.regex: ...`.
//
// ParseFile does no I/O: certFile, keyFile and caFile stay unresolved, and
// duplicate names are not checked (Load does both, across all files). fileOK reports whether the file's object list is complete,
// so that an object missing from it was really removed: it is false after a
// syntax error, an unknown top-level key, or an object without a readable name.
func ParseFile(file string, data []byte) (entries []Entry, errs []error, fileOK bool) {
	p := parse(file, data, nil)
	return p.entries(file), p.errs, p.ok
}

// parsed is one file's parse. Unlike ParseFile's result it keeps the keys of
// invalid objects, whose last good version must stay rather than be deleted.
type parsed struct {
	objects []parsedObject
	refs    []string // files the objects reference (certificates, keys, CAs)
	errs    []error
	ok      bool // the object list is complete: a missing object was removed
	broken  bool // the file as a whole failed (YAML syntax): nothing in it counts
}

type parsedObject struct {
	key     ir.Key
	line    int
	obj     *ir.Object // nil when the object is invalid
	partial *ir.Object // an invalid object as far as it could be read (see result)
	skip    []string
}

func (p *parsed) entries(file string) []Entry {
	var out []Entry
	for _, o := range p.objects {
		if o.obj != nil {
			out = append(out, Entry{Object: *o.obj, File: file, Line: o.line})
		}
	}
	return out
}

func (p *parsed) fail(file string, line int, err error) {
	p.errs = append(p.errs, &Error{File: file, Line: line, Err: err})
}

// parse reads one file's objects. A big file is read in pieces on every core
// (split.go); the result is the same either way.
func parse(file string, data []byte, res *resolver) (p parsed) {
	return parseSized(file, data, res, max(minPiece, len(data)/(8*runtime.GOMAXPROCS(0))))
}

// parseSized is parse with big files cut into pieces of about size bytes.
func parseSized(file string, data []byte, res *resolver, size int) (p parsed) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a config file must
		// never take the process down.
		if r := recover(); r != nil {
			p = parsed{broken: true, errs: []error{&Error{File: file, Err: fmt.Errorf("invalid YAML: parser panic: %v", r)}}}
		}
	}()
	if pieces := splitFile(data, size); pieces != nil {
		if prs, ok := parsePieces(file, pieces, res); ok {
			p.ok = true
			n := 0
			for _, pr := range prs {
				p.errs = append(p.errs, pr.top...)
				p.ok = p.ok && !pr.notOK
				n += len(pr.results)
			}
			p.objects = make([]parsedObject, 0, n)
			for _, pr := range prs {
				p.add(pr.results)
			}
			return p
		}
	}
	docs, err := documents(bytes.NewReader(data))
	if err != nil {
		return parsed{broken: true, errs: []error{syntaxError(file, data, err)}}
	}
	p.ok = true
	var jobs []job
	for _, doc := range docs {
		root := doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		root = deref(root)
		if isNull(root) {
			continue
		}
		if root.Kind != yaml.MappingNode {
			p.fail(file, root.Line, fmt.Errorf("a document must be a mapping with keys %s", sectionKeys()))
			p.ok = false
			continue
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			jobs = p.section(file, root.Content[i], deref(root.Content[i+1]), jobs)
		}
	}
	p.objects = make([]parsedObject, 0, len(jobs))
	p.add(decodeAll(file, jobs, res))
	return p
}

// section checks one top-level key and its list, and appends the list's
// objects to jobs.
func (p *parsed) section(file string, k, v *yaml.Node, jobs []job) []job {
	sec, found := findSection(k.Value)
	switch {
	case k.Value == telemetryKey:
		// A setting of the process, not objects: LoadTelemetry reads it.
	case !found:
		p.fail(file, k.Line, fmt.Errorf("unknown top-level key %q (known: %s)", k.Value, sectionKeys()))
		p.ok = false
	case isNull(v):
	case v.Kind != yaml.SequenceNode:
		p.fail(file, v.Line, fmt.Errorf("%s: must be a list", k.Value))
		p.ok = false
	default:
		for _, n := range v.Content {
			jobs = append(jobs, job{sec: sec, node: deref(n)})
		}
	}
	return jobs
}

// add records decoded objects, in file order.
func (p *parsed) add(results []result) {
	for _, r := range results {
		p.errs = append(p.errs, r.errs...)
		p.refs = append(p.refs, r.refs...)
		switch {
		case r.unnamed:
			// Without a name we cannot tell which object this was, so we
			// cannot keep its last good version: infer no deletes from here.
			p.ok = false
		case r.key.Name != "":
			p.objects = append(p.objects, parsedObject{key: r.key, line: r.line, obj: r.obj, partial: r.partial, skip: r.skip})
		}
	}
}

// job is one object node to decode; result is what became of it.
type job struct {
	sec  section
	node *yaml.Node
}

type result struct {
	key     ir.Key
	line    int
	obj     *ir.Object // nil when invalid
	errs    []error
	refs    []string
	unnamed bool // invalid and without a readable name
	// partial is an invalid object as far as it could be read, for validate
	// to check against the others; skip names the fields left out.
	partial *ir.Object
	skip    []string
}

// decodeAll decodes the objects of a file, in parallel when there are many:
// after YAML parsing, per-object decoding, validation and hashing are most of
// the cost of a big file, and objects are independent by design.
func decodeAll(file string, jobs []job, res *resolver) []result {
	out := make([]result, len(jobs))
	workers := min(runtime.GOMAXPROCS(0), len(jobs)/256+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(jobs); i += workers {
				out[i] = decodeObject(file, jobs[i].sec, jobs[i].node, res)
			}
		})
	}
	wg.Wait()
	return out
}

// decodeObject decodes, resolves and validates one object node.
func decodeObject(file string, sec section, n *yaml.Node, res *resolver) (out result) {
	defer func() {
		if r := recover(); r != nil { // see parse: hostile input must not crash us
			out = result{unnamed: true, errs: []error{&Error{File: file, Line: n.Line, Err: fieldErr(sec.kind, nameOf(n), "", "decode panic: %v", r)}}}
		}
	}()
	name := nameOf(n)
	if name == "" && sec.kind == ir.KindHostPolicy {
		name = hostPolicyName(n)
	}
	out.line = n.Line
	r := sec.new()
	t := reflect.TypeOf(r).Elem()
	w := &walker{kind: sec.kind, name: name, budget: walkBudget}
	w.walk(n, t)
	decodeErr := n.Decode(r)
	if hp, ok := r.(*ir.HostPolicy); ok && hp.Name == "" {
		hp.Name = name
	}
	var problems []fieldProblem
	check := r // what is resolved and validated: all of it, or the part that could be read
	var skip []string
	var d *walker
	if decodeErr != nil || len(w.errs) > 0 {
		// Walk again in detail mode: it reports unknown fields again and
		// decodes each leaf to name the field of a type error.
		d = &walker{kind: sec.kind, name: name, budget: walkBudget, lines: map[string]int{}}
		d.walk(n, t)
		problems = d.errs
		check = nil
		switch {
		case len(problems) > 0:
			// The other fields are still worth checking: one mistake must
			// not hide the next.
			if decodeErr == nil {
				check = r
			} else {
				check = readRest(sec, n, d.bad, name)
			}
			for _, pr := range problems {
				skip = append(skip, pr.err.Field)
			}
		case decodeErr != nil:
			problems = []fieldProblem{{n.Line, fieldErr(sec.kind, name, "", "%s", cleanYAMLError(decodeErr))}}
		default:
			problems = w.errs
		}
	}
	if check != nil {
		var ferrs []*ir.FieldError
		if res != nil {
			out.refs, ferrs = res.resolve(check)
		}
		ferrs = append(ferrs, ir.FieldErrors(check.Validate())...)
		if len(ferrs) > 0 && d == nil {
			d = &walker{kind: sec.kind, name: name, budget: walkBudget, lines: map[string]int{}}
			d.walk(n, t)
		}
		for _, fe := range ferrs {
			if fe.Kind == "" {
				fe.Kind, fe.Name = sec.kind, name
			}
			if len(skip) > 0 && (fe.Field == "" || underAny(fe.Field, skip)) {
				continue // a consequence of a value that could not be read, reported already
			}
			problems = append(problems, fieldProblem{d.lineOf(fe.Field, n.Line), fe})
		}
	}
	if len(problems) == 0 {
		o := ir.NewObject(keySource, keyNamespace, r)
		out.key, out.obj = o.Key, &o
		return out
	}
	slices.SortStableFunc(problems, func(a, b fieldProblem) int { return a.line - b.line })
	for _, pr := range problems {
		out.errs = append(out.errs, &Error{File: file, Line: pr.line, Err: pr.err})
	}
	out.key = objectKey(sec.kind, name)
	out.unnamed = name == ""
	if check != nil && name != "" {
		o := ir.NewObject(keySource, keyNamespace, check)
		out.partial, out.skip = &o, skip
	}
	return out
}

// readRest decodes an object without the values that failed to decode
// (bad, by node), so its other fields can be checked. It returns nil if
// even that fails.
func readRest(sec section, n *yaml.Node, bad map[*yaml.Node]bool, name string) ir.Resource {
	if len(bad) == 0 {
		return nil
	}
	r := sec.new()
	if err := without(n, bad).Decode(r); err != nil {
		return nil
	}
	if hp, ok := r.(*ir.HostPolicy); ok && hp.Name == "" {
		hp.Name = name
	}
	return r
}

// without returns n with the nodes in bad replaced by nulls, which decode to
// the zero value; what is unchanged is shared, not copied. It does not
// follow aliases: a bad node behind one still fails the decode.
func without(n *yaml.Node, bad map[*yaml.Node]bool) *yaml.Node {
	if _, ok := bad[n]; ok {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	}
	var cp *yaml.Node
	for i, c := range n.Content {
		nc := without(c, bad)
		if nc == c {
			continue
		}
		if cp == nil {
			v := *n
			v.Content = slices.Clone(n.Content)
			cp = &v
		}
		cp.Content[i] = nc
	}
	if cp == nil {
		return n
	}
	return cp
}

// underAny reports whether field is one of paths, or inside or around one.
func underAny(field string, paths []string) bool {
	for _, p := range paths {
		if within(field, p) || within(p, field) {
			return true
		}
	}
	return false
}

// within reports whether field is path or a field inside it.
func within(field, path string) bool {
	if path == "" {
		return true
	}
	if !strings.HasPrefix(field, path) {
		return false
	}
	rest := field[len(path):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// nameOf reads an object's name straight from its node, so even an object
// that fails to decode can be identified (and its last good version kept).
func nameOf(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], deref(n.Content[i+1]); k.Value == "name" && v.Kind == yaml.ScalarNode && !isNull(v) {
			return v.Value
		}
	}
	return ""
}

// hostPolicyName names a host policy written as {hosts, plugins} without a
// name, from its hosts.
func hostPolicyName(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], deref(n.Content[i+1]); k.Value == "hosts" && v.Kind == yaml.SequenceNode {
			var hosts []string
			for _, h := range v.Content {
				if h.Kind != yaml.ScalarNode {
					return ""
				}
				hosts = append(hosts, h.Value)
			}
			return ir.DefaultHostPolicyName(hosts)
		}
	}
	return ""
}

func documents(r io.Reader) ([]*yaml.Node, error) {
	var docs []*yaml.Node
	dec := yaml.NewDecoder(r)
	for {
		var d yaml.Node
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &d)
	}
}

var yamlSyntaxLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parserProblems are yaml.v3's parser error messages (parserc.go).
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntaxError turns yaml.v3's syntax error into one naming the line where
// the problem is.
func syntaxError(file string, data []byte, err error) error {
	msg := err.Error()
	problem, line := strings.TrimPrefix(msg, "yaml: "), 0
	if m := yamlSyntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		problem = m[2]
		if parserProblems[problem] {
			line++ // yaml.v3 reports parser (not scanner) errors with 0-based lines
		}
	}
	if l := problemLine(data, msg); l > 0 {
		line = l
	} else if n := yamlLines(data); line > n {
		line = n // the 0-based correction above is off by one at the end of a file
	}
	return &Error{File: file, Line: line, Err: fmt.Errorf("invalid YAML: %s", problem)}
}

// refineLimit is the largest file problemLine searches as a whole: the
// search parses the file up to twenty times. A bigger file is searched
// piece by piece (split.go): each piece is parsed once, and only the piece
// that fails the same way is searched, so the cost stays near two parses.
const refineLimit = 512 << 10

// problemLine returns the line where the parser meets the problem msg: the
// last line of the shortest run of the file's first lines that fails with
// the same error. yaml.v3 names the line where the enclosing block began
// (a list opened on line 2 for a bad key on line 7) whenever it has one,
// which is seldom where the mistake is. It returns 0 when it cannot tell.
func problemLine(data []byte, msg string) int {
	if otherBreaks(data) {
		return 0
	}
	if len(data) <= refineLimit {
		return shortestFailing(data, msg)
	}
	for _, pc := range splitFile(data, minPiece) {
		d, offset := pc.data, pc.line-1
		if pc.header != nil {
			d = slices.Concat(pc.header, []byte("\n"), pc.data)
			offset-- // the header is line 1, the piece's first line is line 2
		}
		if l := shortestFailing(d, msg); l > 0 {
			return offset + l
		}
	}
	return 0
}

// shortestFailing is problemLine's search over data as a whole.
func shortestFailing(data []byte, msg string) int {
	var ends []int // offset just past each line
	for off := 0; off < len(data); {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			ends = append(ends, len(data))
			break
		}
		off += i + 1
		ends = append(ends, off)
	}
	same := func(n int) bool { // do the first n lines fail as the whole file does?
		_, err := documents(bytes.NewReader(data[:ends[n-1]]))
		return err != nil && sameProblem(err.Error(), msg)
	}
	if len(ends) == 0 || !same(len(ends)) {
		return 0
	}
	lo, hi := 1, len(ends) // same(hi) holds
	for lo < hi {
		mid := lo + (hi-lo)/2
		if same(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi
}

// yamlLines counts lines as YAML breaks them: at LF, CR and CRLF, and at
// NEL, LS and PS.
func yamlLines(data []byte) int {
	n := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) - bytes.Count(data, []byte("\r\n")) + 1
	for _, r := range []string{"\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(data, []byte(r))
	}
	return n
}

// otherBreaks reports line breaks other than LF and CRLF, which YAML counts
// as lines too (problemLine counts LFs).
func otherBreaks(data []byte) bool {
	if bytes.Contains(data, []byte("\u0085")) || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029")) {
		return true
	}
	for i := bytes.IndexByte(data, '\r'); i >= 0; {
		if i+1 >= len(data) || data[i+1] != '\n' {
			return true
		}
		j := bytes.IndexByte(data[i+1:], '\r')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// sameProblem compares two yaml.v3 errors without their line numbers.
func sameProblem(a, b string) bool {
	strip := func(s string) string {
		if m := yamlSyntaxLine.FindStringSubmatch(s); m != nil {
			return m[2]
		}
		return s
	}
	return strip(a) == strip(b)
}

func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}
