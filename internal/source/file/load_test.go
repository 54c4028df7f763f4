package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pylon.io/pylon/internal/ir"
)

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	route := func(name string) string {
		return "routes:\n  - name: " + name + "\n    backends: [{service: s}]\n"
	}
	writeFile(t, dir, "a.yaml", route("a"))
	writeFile(t, dir, "sub/b.yml", route("b"))
	writeFile(t, dir, "c.json", `{"routes": [{"name": "c", "backends": [{"service": "s"}]}]}`)
	writeFile(t, dir, ".hidden.yaml", route("hidden"))
	writeFile(t, dir, "..2024_01_01/x.yaml", route("k8s-internal"))
	writeFile(t, dir, "notes.txt", "not: config")
	if err := os.Symlink("..2024_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "x.yaml"), filepath.Join(dir, "mounted.yaml")); err != nil {
		t.Fatal(err)
	}
	entries, errs := Load(dir)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Object.Key.Name+"@"+filepath.Base(e.File))
	}
	// Walk order: a.yaml, c.json, mounted.yaml (symlink, followed), sub/b.yml.
	want := "a@a.yaml c@c.json k8s-internal@mounted.yaml b@b.yml"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLoadDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "routes:\n  - name: other\n    backends: [{service: s}]\n  - name: echo\n    backends: [{service: first}]\n")
	b := writeFile(t, dir, "b.yaml", "services:\n  - name: echo\n    endpoints: [1.2.3.4:80]\nroutes:\n  - name: echo\n    backends: [{service: second}]\n")
	entries, errs := Load(dir)
	if len(errs) != 1 {
		t.Fatalf("errors %v", errs)
	}
	want := b + `:5: route "echo": duplicate route name, first defined at ` + filepath.Join(dir, "a.yaml") + ":4"
	if errs[0].Error() != want {
		t.Errorf("error %q\nwant  %q", errs[0], want)
	}
	if len(entries) != 3 { // other, echo (first), and the service echo: kinds differ
		t.Fatalf("%d entries", len(entries))
	}
	for _, e := range entries {
		if r, ok := e.Object.Resource.(*ir.Route); ok && r.Name == "echo" && r.Backends[0].Service != "first" {
			t.Errorf("the later duplicate won: %+v", r)
		}
	}
}

func TestLoadResolvesPEMFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, "echo.example.com")
	writeFile(t, dir, "tls/echo.crt", cert)
	writeFile(t, dir, "tls/echo.key", key)
	writeFile(t, dir, "tls/ca.pem", cert)
	f := writeFile(t, dir, "conf/pylon.yaml", `certificates:
  - name: echo
    certFile: ../tls/echo.crt
    keyFile: ../tls/echo.key
  - name: missing
    certFile: ../tls/nope.crt
    keyFile: ../tls/echo.key
services:
  - name: s
    endpoints: [1.2.3.4:443]
    tls: {caFile: ../tls/ca.pem}
`)
	entries, errs := Load(f)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), f+`:6: certificate "missing": certFile: open `) {
		t.Fatalf("errors %v", errs)
	}
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	c := entries[0].Object.Resource.(*ir.Certificate)
	if c.Cert != cert || c.Key != key || c.CertFile != "../tls/echo.crt" {
		t.Errorf("certificate not resolved: %+v", c)
	}
	s := entries[1].Object.Resource.(*ir.Service)
	if s.TLS.CA != cert {
		t.Errorf("service CA not resolved: %+v", s.TLS)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("resolved service no longer validates: %v", err)
	}
}

func TestLoadMissingPath(t *testing.T) {
	_, errs := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "nope.yaml") {
		t.Fatalf("errors %v", errs)
	}
}

// TestLoadManyFiles loads a directory of many files, which are parsed
// concurrently: the result is still in file order, and of two objects with
// one name the one in the earlier file wins.
func TestLoadManyFiles(t *testing.T) {
	dir := t.TempDir()
	const n = 40
	for i := range n {
		writeFile(t, dir, fmt.Sprintf("tenant-%02d.yaml", i), fmt.Sprintf(
			"routes:\n  - name: own-%02d\n    backends: [{ service: s }]\n  - name: shared\n    hosts: [t%02d.example.com]\n    backends: [{ service: s }]\n", i, i))
	}
	entries, errs := Load(dir)
	if len(entries) != n+1 {
		t.Fatalf("got %d entries, want %d", len(entries), n+1)
	}
	if len(errs) != n-1 {
		t.Fatalf("got %d errors, want %d duplicates: %v", len(errs), n-1, errs)
	}
	for i, e := range entries {
		want := fmt.Sprintf("own-%02d", i)
		if i == 1 {
			want = "shared"
		} else if i > 1 {
			want = fmt.Sprintf("own-%02d", i-1)
		}
		if e.Object.Key.Name != want {
			t.Errorf("entry %d is %s, want %s", i, e.Object.Key.Name, want)
		}
	}
	if r := entries[1].Object.Resource.(*ir.Route); r.Hosts[0] != "t00.example.com" {
		t.Errorf("shared comes from %s, want the first file's", r.Hosts[0])
	}
	for i, err := range errs {
		if want := fmt.Sprintf("tenant-%02d.yaml:4:", i+1); !strings.Contains(err.Error(), want) {
			t.Errorf("error %d = %v, want it at %s", i, err, want)
		}
	}
}
