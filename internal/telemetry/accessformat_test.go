package telemetry

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDefaultJSONFormatIsTheDefaultLine: the JSON format without a field
// list writes exactly the line the log writes by default.
func TestDefaultJSONFormatIsTheDefaultLine(t *testing.T) {
	f, err := JSONAccessFormat(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry()
	if got, want := f.append(nil, e), appendAccessEntry(nil, e); !bytes.Equal(got, want) {
		t.Errorf("default fields:\n%s\nthe default line:\n%s", got, want)
	}
	e.Tries = []UpstreamTry{{Address: "10.0.0.1:8080", Status: 503}, {Address: "10.0.0.2:8080", Failure: "connect"}}
	e.Error = "upstream connect error"
	if got, want := f.append(nil, e), appendAccessEntry(nil, e); !bytes.Equal(got, want) {
		t.Errorf("with tries and an error:\n%s\nthe default line:\n%s", got, want)
	}
	e.TraceID = []byte("4bf92f3577b34da6a3ce929d0e0e4736")
	e.WAF = []byte("942100 waf-bypass:fail-open")
	got, want := f.append(nil, e), appendAccessEntry(nil, e)
	if !bytes.Equal(got, want) {
		t.Errorf("with a trace and a waf note:\n%s\nthe default line:\n%s", got, want)
	}
	if !bytes.Contains(want, []byte(`,"waf":"942100 waf-bypass:fail-open"}`)) {
		t.Errorf("the default line has no waf field:\n%s", want)
	}
}

func TestChosenJSONFields(t *testing.T) {
	f, err := JSONAccessFormat([]string{"status", "remote_addr", "request", "request_time", "upstream_tries"})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry()
	line := f.append(nil, e)
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	want := map[string]any{"status": 200.0, "remote_addr": "fe80::1", "request": `GET /cart?id="7" HTTP/1.1`, "request_time": 0.002}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v (no tries: left out)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if !strings.HasPrefix(string(line), `{"status":200,"remote_addr":`) {
		t.Errorf("fields not in the order named: %s", line)
	}
}

func TestTextFormat(t *testing.T) {
	f, err := TextAccessFormat(DefaultTextTemplate)
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEntry()
	e.Time = time.Date(2026, 5, 1, 12, 30, 45, 0, time.Local)
	got := string(f.append(nil, e))
	want := `fe80::1 - - [` + e.Time.Format("02/Jan/2006:15:04:05 -0700") + `] "GET /cart?id=\x227\x22 HTTP/1.1" 200 1234 "-" "curl/8.0\x0A" 0.002 10.0.0.1:8080 200 default/shop` + "\n"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	f, err = TextAccessFormat(`${status}$$ $upstream_tries [$error] ${remote_addr}x`)
	if err != nil {
		t.Fatal(err)
	}
	e.Tries = []UpstreamTry{{Address: "10.0.0.1:8080", Status: 503}, {Address: "10.0.0.2:8080", Failure: "connect"}}
	if got, want := string(f.append(nil, e)), "200$ 10.0.0.1:8080 503, 10.0.0.2:8080 connect [-] fe80::1x\n"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestBadAccessFormats(t *testing.T) {
	for _, tc := range []struct{ tmpl, want string }{
		{"$status $bogus", "unknown field $bogus"},
		{"${status", "unclosed ${"},
		{"cost: $ 5", "a $ without a field name"},
		{"", "must not be empty"},
		{"$status\n$host", "must be one line"},
	} {
		if _, err := TextAccessFormat(tc.tmpl); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.tmpl, err, tc.want)
		}
	}
	if _, err := JSONAccessFormat([]string{"status", "stauts"}); err == nil || !strings.Contains(err.Error(), `unknown field "stauts"`) || !strings.Contains(err.Error(), "remote_addr") {
		t.Errorf("a misspelt field: %v", err)
	}
	if _, err := JSONAccessFormat([]string{"status", "status"}); err == nil {
		t.Error("a field named twice was accepted")
	}
	f, _ := JSONAccessFormat(nil)
	for _, s := range []float64{-0.1, 1.5} {
		if _, err := f.WithSample(s); err == nil {
			t.Errorf("sample %v accepted", s)
		}
	}
}

// TestSampling: a sampled log keeps about its share of the good answers
// and every error.
func TestSampling(t *testing.T) {
	f, _ := JSONAccessFormat(nil)
	f, err := f.WithSample(0.1)
	if err != nil {
		t.Fatal(err)
	}
	var w writeRecorder
	l := NewAccessLog(&w)
	l.SetFormat(f)
	e := sampleEntry()
	for i := range 10000 {
		e.Status = 200
		if i%10 == 0 {
			e.Status = 502
		}
		l.Log(e)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ok, bad := 0, 0
	for _, p := range w.writes {
		ok += bytes.Count(p, []byte(`"status":200`))
		bad += bytes.Count(p, []byte(`"status":502`))
	}
	if bad != 1000 || ok < 700 || ok > 1100 {
		t.Errorf("kept %d of 9000 answers 200 and %d of 1000 answers 502; want about 900 and all", ok, bad)
	}
}

// FuzzTextAccessFormat: any template either fails with an error or writes
// exactly one line, whatever the request holds.
func FuzzTextAccessFormat(f *testing.F) {
	f.Add(DefaultTextTemplate, "/a\nb", "ua\"\\")
	f.Add("${status}$$ $upstream_tries", "", "")
	f.Add("$", "/", "x")
	f.Fuzz(func(t *testing.T, tmpl, path, ua string) {
		af, err := TextAccessFormat(tmpl)
		if err != nil {
			return
		}
		e := sampleEntry()
		e.Path, e.UserAgent = []byte(path), []byte(ua)
		line := af.append(nil, e)
		if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 || bytes.ContainsRune(line, '\r') {
			t.Fatalf("template %q wrote %q: not one line", tmpl, line)
		}
	})
}
