package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// The README opens with the two commands a new user types first.
func TestREADMEStartsWithRunAndTest(t *testing.T) {
	want := "# Pylon\n\n```sh\n" +
		"go run ./cmd/pylon run     # the bundled example on 127.0.0.1:8080, with two echo backends\n" +
		"./hack/test.sh             # the whole test suite; installs what it needs (apt-get, go install)\n```\n"
	if got := readme(t); !strings.HasPrefix(got, want) {
		t.Fatalf("the README does not open with the run and test commands:\n%s", got[:min(len(got), 400)])
	}
}

// The README warns that the first `go run` takes minutes, and the binary
// sizes it gives, for a plain build and for its release build command, are
// those of the binaries these builds make today (within 10%); the
// Dockerfile builds the image the same way.
func TestREADMEBuildTimeAndSize(t *testing.T) {
	text := readme(t)
	if !regexp.MustCompile("(?s)first `go run` compiles.{0,200}few minutes").MatchString(text) {
		t.Error("the README does not warn that the first `go run` compiles for a few minutes")
	}
	plainMB := statedMB(t, text, "about ([0-9]+) MB as plain `go build` makes it")
	releaseMB := statedMB(t, text, "release build leaves those out and is about ([0-9]+) MB")
	cmd := regexp.MustCompile(`(?m)^go build -trimpath -ldflags='-s -w' -o bin/pylon ./cmd/pylon\b`).FindString(text)
	if cmd == "" {
		t.Fatal("the README gives no release build command")
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`go build -trimpath -ldflags "-s -w[ "]`).Match(dockerfile) {
		t.Error("the Dockerfile does not build with -trimpath -ldflags '-s -w', as the README says")
	}

	dir := t.TempDir()
	for _, b := range []struct {
		name   string
		args   []string
		stated int
	}{
		{"plain", nil, plainMB},
		// Without -trimpath, which changes only the file paths the binary
		// records (0.3% of its size) but not one compile cache entry: with
		// it, the test would compile every package again.
		{"release", []string{"-ldflags=-s -w"}, releaseMB},
	} {
		out := filepath.Join(dir, b.name)
		build := exec.Command("go", append(append([]string{"build"}, b.args...), "-o", out, "./cmd/pylon")...)
		build.Dir = "../.."
		if msg, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", strings.Join(b.args, " "), err, msg)
		}
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		mb := float64(fi.Size()) / 1e6
		if diff := mb/float64(b.stated) - 1; diff > 0.1 || diff < -0.1 {
			t.Errorf("%s build: %.1f MB, the README says about %d MB", b.name, mb, b.stated)
		}
	}
}

func statedMB(t *testing.T, text, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(strings.Join(strings.Fields(text), " "))
	if m == nil {
		t.Fatalf("the README does not say %q", pattern)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
