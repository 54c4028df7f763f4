package testenv

import (
	"strings"
	"testing"
)

func TestCheckJSONRecord(t *testing.T) {
	for _, c := range []struct {
		line string
		want string // "" = a good record; else a part of the error
	}{
		{`{"time":"t","level":"INFO","msg":"m","source":"api"}`, ""},
		{`{"a":{"b":1,"c":[{"d":1},{"d":2}]},"e":null}`, ""},
		{`{"source":"api","source":"kubernetes"}`, `duplicate key "source"`},
		{`{"a":{"b":1,"b":2}}`, `duplicate key "a.b"`},
		{`{"a":[{"b":1,"b":2}]}`, `duplicate key "a.b"`},
		{`I0102 15:04:05.000000 1 leaderelection.go:257] attempting to acquire leader lease`, "not JSON"},
		{`time=2026-01-01T00:00:00Z level=INFO msg=m`, "not JSON"},
		{``, "not JSON"},
		{`["a"]`, "not a JSON object"},
		{`{"a":1}{"b":2}`, "more than one"},
		{`{"a":1} x`, "more than one"},
		{`{"a":1`, "not JSON"},
	} {
		err := CheckJSONRecord([]byte(c.line))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.line, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want one with %q", c.line, err, c.want)
		}
	}
}

func TestJSONLogProblems(t *testing.T) {
	log := "{\"msg\":\"a\"}\nplain text\n{\"msg\":\"b\",\"msg\":\"c\"}\n{\"msg\":\"cut"
	var lines []int
	for _, p := range JSONLogProblems(log) {
		lines = append(lines, p.Line)
	}
	if len(lines) != 3 || lines[0] != 2 || lines[1] != 3 || lines[2] != 4 {
		t.Errorf("bad lines %v, want [2 3 4]", lines)
	}
	if p := JSONLogProblems(""); len(p) != 0 {
		t.Errorf("empty log: %v", p)
	}
}
