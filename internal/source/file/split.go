package file

import (
	"bytes"
	"io"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"
)

// A big config file is parsed in pieces, each on its own core. yaml.v3 builds
// a file's whole node tree on one core before any object can be decoded, and
// that tree is several times the size of the file: for 100,000 routes it was
// half of the time to serving and most of the memory at its peak. A file in
// the plain shape (top-level keys at column 0, each list a block sequence)
// splits between the items of a list. Each piece is parsed and its objects
// decoded at once, so only the trees of the pieces being worked on are alive.
//
// A piece that fails to parse (a syntax error, an alias to an anchor of
// another piece, a quoted string across the cut) sends the whole file back to
// the one-tree parse, so every error reads as it always did.

// minPiece is the smallest piece worth its own parse, in bytes.
const minPiece = 256 << 10

// sectionLine is a top-level key that opens a block (nothing after the colon
// but a comment), the only kind of key a piece may continue.
var sectionLine = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*:( +#.*)?$`)

// topKeyLine is any plain top-level key.
var topKeyLine = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*:( |$)`)

// piece is a run of whole lines of a file.
type piece struct {
	data   []byte
	line   int    // the file's line number of data's first line
	header []byte // the key line of the list data continues; nil when data starts at a key
}

// splitFile cuts data into pieces of about size bytes at item or key lines,
// or returns nil when the file is not in the plain shape or too small to cut.
func splitFile(data []byte, size int) []piece {
	if len(data) <= size || bytes.Contains(data, []byte("\u0085")) || bytes.Contains(data, []byte("\u2028")) || bytes.Contains(data, []byte("\u2029")) {
		return nil // too small, or with line breaks other than LF and CRLF
	}
	var (
		out      []piece
		start    int    // offset of the current piece
		startAt  = 1    // its line number
		pieceHdr []byte // its header
		key      []byte // key line of the current block list, nil outside one
		seq      = -1   // indentation of its items, -1 until the first one
		content  bool   // a line other than a comment has been seen
		top      bool   // a top-level key has been seen
		line     int
	)
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		l := bytes.TrimSuffix(data[off:next], []byte("\n"))
		if bytes.IndexByte(bytes.TrimSuffix(l, []byte("\r")), '\r') >= 0 {
			return nil // a lone CR is a line break to YAML: leave it to the parser
		}
		line++
		indent := len(l) - len(bytes.TrimLeft(l, " "))
		rest := bytes.TrimRight(l[indent:], " \r")
		cut := false // a piece may start at this line
		var cutHeader []byte
		switch {
		case len(rest) == 0 || rest[0] == '#':
			// Blank lines and comments belong to whatever surrounds them.
		case indent < len(l) && l[indent] == '\t':
			return nil // tabs are not indentation in YAML: leave it to the parser
		case indent == 0 && (bytes.Equal(rest, []byte("---")) || bytes.HasPrefix(rest, []byte("--- "))):
			if content {
				return nil // a second document
			}
		case indent == 0 && isItem(rest):
			if key == nil || (seq != -1 && seq != 0) {
				return nil
			}
			seq = 0
			cut, cutHeader = true, key
		case indent == 0:
			if !topKeyLine.Match(rest) {
				return nil // directives, flow style, quoted or complex keys, "...": not plain
			}
			key, seq, top = nil, -1, true
			if sectionLine.Match(rest) {
				key = l
			}
			cut = true
		case !top:
			return nil // indented content before the first key
		case key != nil && seq == -1:
			if !isItem(rest) {
				key = nil // a block that is not a list: no cut inside it
				break
			}
			seq = indent
			cut, cutHeader = true, key
		case key != nil && indent < seq:
			return nil
		case key != nil && indent == seq && isItem(rest):
			cut, cutHeader = true, key
		}
		if len(rest) > 0 && rest[0] != '#' {
			content = true
		}
		if cut && off-start >= size {
			out = append(out, piece{data: data[start:off], line: startAt, header: pieceHdr})
			start, startAt, pieceHdr = off, line, cutHeader
		}
		off = next
	}
	if len(out) == 0 {
		return nil
	}
	return append(out, piece{data: data[start:], line: startAt, header: pieceHdr})
}

// isItem reports whether a line's content starts a block sequence item.
func isItem(rest []byte) bool {
	return rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ')
}

// pieceResult is what became of one piece.
type pieceResult struct {
	top     []error // problems with the top-level structure, in file order
	notOK   bool    // like parsed.ok: an object list is incomplete
	results []result
}

// parsePieces parses and decodes the pieces of a file concurrently. It
// reports false when one did not parse on its own; the caller then parses
// the file whole.
func parsePieces(file string, pieces []piece, res *resolver) ([]pieceResult, bool) {
	out := make([]pieceResult, len(pieces))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(pieces)) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(pieces) {
					return
				}
				if !parsePiece(file, pieces[i], res, &out[i]) {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return out, !failed.Load()
}

// parsePiece parses one piece into out, decoding its objects in order.
func parsePiece(file string, pc piece, res *resolver, out *pieceResult) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false // the whole-file parse reports it
		}
	}()
	var r io.Reader = bytes.NewReader(pc.data)
	offset := pc.line - 1
	if pc.header != nil {
		r = io.MultiReader(bytes.NewReader(pc.header), bytes.NewReader([]byte("\n")), r)
		offset-- // the header is line 1, the piece's first line is line 2
	}
	docs, err := documents(r)
	if err != nil || len(docs) != 1 || len(docs[0].Content) != 1 {
		return false
	}
	root := docs[0].Content[0]
	if root.Kind != yaml.MappingNode {
		return false
	}
	shiftLines(root, offset)
	var p parsed
	p.ok = true
	jobs := make([]job, 0, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		if i == 0 && pc.header != nil {
			// The rest of a list the previous piece opened: its key was
			// judged there.
			if v.Kind != yaml.SequenceNode {
				return false
			}
			if sec, found := findSection(k.Value); found {
				for _, n := range v.Content {
					jobs = append(jobs, job{sec: sec, node: deref(n)})
				}
			}
			continue
		}
		jobs = p.section(file, k, v, jobs)
	}
	out.top, out.notOK = p.errs, !p.ok
	out.results = make([]result, len(jobs))
	for i, j := range jobs {
		out.results[i] = decodeObject(file, j.sec, j.node, res)
	}
	return true
}

// shiftLines adds offset to the line of every node under n.
func shiftLines(n *yaml.Node, offset int) {
	if offset == 0 {
		return
	}
	n.Line += offset
	for _, c := range n.Content {
		shiftLines(c, offset)
	}
}
