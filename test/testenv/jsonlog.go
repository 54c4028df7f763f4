package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// JSONLineError says why one line of a log is not a JSON log record.
type JSONLineError struct {
	Line int    // 1-based
	Text string // the line
	Err  error
}

func (e JSONLineError) Error() string {
	return fmt.Sprintf("line %d: %v: %s", e.Line, e.Err, e.Text)
}

// JSONLogProblems checks that every line of log is one JSON object in
// which no object repeats a key, as a log pipeline that reads one JSON
// object per line needs (a repeated key is kept once, or refused, depending
// on the reader). A final line without its newline is checked too. It
// returns one error per bad line.
func JSONLogProblems(log string) []JSONLineError {
	var out []JSONLineError
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	if log == "" {
		lines = nil
	}
	for i, l := range lines {
		if err := CheckJSONRecord([]byte(l)); err != nil {
			out = append(out, JSONLineError{Line: i + 1, Text: l, Err: err})
		}
	}
	return out
}

// CheckJSONRecord checks that line is exactly one JSON object, with no key
// twice in any of its objects.
func CheckJSONRecord(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := checkObject(dec, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

// checkObject reads the rest of an object whose '{' was read, failing on a
// repeated key; path names the object in the message.
func checkObject(dec *json.Decoder, path string) error {
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		if tok == json.Delim('}') {
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("not JSON: object key %v", tok)
		}
		if seen[key] {
			return fmt.Errorf("duplicate key %q", path+key)
		}
		seen[key] = true
		if err := checkValue(dec, path+key+"."); err != nil {
			return err
		}
	}
}

func checkValue(dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, path)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, path); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}
