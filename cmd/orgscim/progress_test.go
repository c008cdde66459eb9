package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
)

// Long commands draw progress only on a terminal: with stderr a file (a log, a pipe in
// CI) they write nothing there, and their stdout is the same as ever.
func TestNoProgressWhenStderrIsNotATerminal(t *testing.T) {
	url := dbtest.URL(t, "sqlite")
	mustCLI(t, "org", "create", "--name", "Acme", "--slug", "acme", "--database", url)
	mustCLI(t, "connection", "create", "--org", "acme", "--database", url)
	csv := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(csv, []byte("org_path,user_name,email\nacme,ann@acme.example,ann@acme.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"audit", "verify"},
		{"reconcile", "--dry-run"},
		{"reconcile"},
		{"import", csv, "--dry-run"},
		{"import", csv},
	} {
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		var stdout strings.Builder
		if err := run(context.Background(), append(args, "--database", url), &stdout, f); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		f.Close()
		if b, _ := os.ReadFile(f.Name()); len(b) != 0 || stdout.Len() == 0 {
			t.Errorf("%v: stderr %q, stdout %q", args, b, stdout.String())
		}
	}
	if isTerminal(&strings.Builder{}) || newProgress(os.Stderr, true, 10, "x", "y") != nil {
		t.Error("a progress bar for a writer that is no terminal, or with --json")
	}
}

// What a terminal gets: the bar with the count, the rate and the time left; cleared
// when done, so the result starts on a clean line.
func TestProgressBarShowsRateAndTimeLeft(t *testing.T) {
	var w strings.Builder
	p := progressTo(&w, 200, "load: POST /Users", "requests")
	p.Add(50)
	drawn := w.String()
	// e.g. "load: POST /Users  25% |███████      | (50/200, 351788 requests/s) [0s:0s]":
	// [elapsed:left].
	bar := regexp.MustCompile(`load: POST /Users +25% \|[█ ]+\| \(50/200, [0-9.]+ requests/s\) \[[0-9a-z.]+:[0-9a-z.]+\]`)
	if !bar.MatchString(drawn) {
		t.Errorf("the bar is %q", drawn)
	}
	p.Done()
	if !strings.HasSuffix(w.String(), "\r\033[K") && !strings.HasSuffix(w.String(), "\r") {
		t.Errorf("the bar was not cleared: %q", w.String()[len(drawn):])
	}
	var nothing *progress // a command without a bar calls the same methods
	nothing.Add(1)
	nothing.Describe("x")
	nothing.Reset(1, "x")
	nothing.Done()
}
