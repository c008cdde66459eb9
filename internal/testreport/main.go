// Command testreport runs `go test -json` and turns its event stream into a log a person
// can read and a verdict CI can trust: it prints what `go test` prints without -v
// (package results, the output of failing tests, build errors), then every skipped test
// with its reason, then one closing line "N passed, N failed, N skipped".
//
// Skips are counted from the events, not grepped from text that go test prints only with
// -v. With -strict, a skip that is not on the allow-list file (-allowed) fails the run:
// CI runs with a real PostgreSQL and Chromium, so a skip there hides a test that did not
// run. Without -strict (a developer's `make test`, perhaps without PostgreSQL) skips are
// listed, not fatal.
//
// Usage:
//
//	go run ./internal/testreport [-allowed FILE] [-strict] [-json FILE] [-skips FILE] -- go test -json ARGS...
//
// The exit status is go test's, or 1 when it passed but a skip was not allowed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowedFile := fs.String("allowed", "", "the reviewed allow-list of skips: one test name and its reason a line")
	strict := fs.Bool("strict", false, "fail when a test is skipped that the allow-list does not name (CI)")
	jsonFile := fs.String("json", "", "also write go test's raw JSON events to this file")
	skipsFile := fs.String("skips", "", "also write the skipped tests to this file, one a line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cmdline := fs.Args()
	if len(cmdline) == 0 {
		fmt.Fprintln(stderr, "testreport: give the test command after --, e.g. -- go test -json ./...")
		return 2
	}
	var allowed allowList
	if *allowedFile != "" {
		var err error
		if allowed, err = readAllowList(*allowedFile); err != nil {
			fmt.Fprintf(stderr, "testreport: %v\n", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "testreport: %v\n", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "testreport: %v\n", err)
		return 2
	}
	var events io.Reader = out
	if *jsonFile != "" {
		f, err := os.Create(*jsonFile)
		if err != nil {
			fmt.Fprintf(stderr, "testreport: %v\n", err)
			return 2
		}
		defer f.Close()
		events = io.TeeReader(out, f)
	}
	s := newSummary(stdout)
	readErr := s.read(events)
	waitErr := cmd.Wait()
	code := 0
	if waitErr != nil {
		code = 1
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
	}
	if readErr != nil {
		fmt.Fprintf(stderr, "testreport: reading go test's events: %v\n", readErr)
		code = max(code, 1)
	}
	if *skipsFile != "" {
		if err := os.WriteFile(*skipsFile, []byte(s.skipLines()), 0o644); err != nil {
			fmt.Fprintf(stderr, "testreport: %v\n", err)
			code = max(code, 1)
		}
	}
	return s.finish(code, allowed, *strict)
}

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

// testKey names a test in a package.
type testKey struct{ pkg, test string }

// summary follows the event stream.
type summary struct {
	w      io.Writer
	output map[testKey][]string // each running test's output, shown if it fails
	result map[testKey]string   // pass, fail or skip
	order  []testKey            // tests in the order they ended
	// packages whose test binary did not build or failed outside any test
	brokenPackages []string
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, output: map[testKey][]string{}, result: map[testKey]string{}}
}

func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			// Not an event (go test prints some failures as plain text): show it as is.
			fmt.Fprintln(s.w, string(line))
			continue
		}
		s.add(e)
	}
	return sc.Err()
}

func (s *summary) add(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.w, e.Output)
		return
	case "build-fail":
		s.brokenPackages = append(s.brokenPackages, e.ImportPath)
		return
	}
	if e.Test == "" {
		// Package-level: go test's own lines ("ok  pkg 1.2s", "FAIL pkg", "--- FAIL"
		// headers), output of TestMain or of a test binary that crashed. The PASS/FAIL
		// banner of a package is noise without -v.
		if e.Action == "output" && e.Output != "PASS\n" {
			fmt.Fprint(s.w, e.Output)
		}
		if e.Action == "fail" {
			s.failedPackage(e.Package)
		}
		return
	}
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "output":
		s.output[k] = append(s.output[k], e.Output)
	case "pass", "fail", "skip":
		if _, seen := s.result[k]; !seen {
			s.order = append(s.order, k)
		}
		s.result[k] = e.Action
		if e.Action == "fail" {
			// As go test without -v: a failing test's output, indented as it was.
			for _, o := range s.output[k] {
				if !strings.HasPrefix(o, "=== ") {
					fmt.Fprint(s.w, o)
				}
			}
		}
		if e.Action != "skip" {
			delete(s.output, k)
		}
	}
}

func (s *summary) failedPackage(pkg string) {
	for _, p := range s.brokenPackages {
		// A build failure names the package as "pkg [pkg.test]".
		if p == pkg || strings.HasPrefix(p, pkg+" [") {
			return
		}
	}
	// A package fails with its tests; note it only when no test of it failed.
	for k, r := range s.result {
		if k.pkg == pkg && r == "fail" {
			return
		}
	}
	s.brokenPackages = append(s.brokenPackages, pkg)
}

// groupedAbove is how many tests skipped for the same reason are listed one a line;
// more make one line with their count.
const groupedAbove = 3

// skip is one skipped test and what it said.
type skip struct {
	key    testKey
	reason string
}

func (s *summary) skips() []skip {
	var out []skip
	for _, k := range s.order {
		if s.result[k] != "skip" {
			continue
		}
		var reason []string
		for _, o := range s.output[k] {
			t := strings.TrimSpace(o)
			if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
				continue
			}
			// "file_test.go:44: message": the message is the reason.
			if i := strings.Index(t, ": "); i > 0 && strings.Contains(t[:i], ".go:") {
				t = t[i+2:]
			}
			reason = append(reason, t)
		}
		out = append(out, skip{key: k, reason: strings.Join(reason, " ")})
	}
	return out
}

func (s *summary) skipLines() string {
	var b strings.Builder
	for _, sk := range s.skips() {
		fmt.Fprintf(&b, "%s %s\t%s\n", sk.key.pkg, sk.key.test, sk.reason)
	}
	return b.String()
}

// finish prints the skips and the closing count, and returns the exit status.
func (s *summary) finish(code int, allowed allowList, strict bool) int {
	var passed, failed int
	for _, r := range s.result {
		switch r {
		case "pass":
			passed++
		case "fail":
			failed++
		}
	}
	skips := s.skips()
	var unlisted []skip
	if len(skips) > 0 {
		fmt.Fprintf(s.w, "\nskipped (%d):\n", len(skips))
		// Many tests skipped for one reason (every PostgreSQL run without a PostgreSQL)
		// make one line; the skip list file names them all.
		type group struct {
			reason, mark string
			tests        []string
		}
		var groups []*group
		byReason := map[[2]string]*group{}
		for _, sk := range skips {
			mark := "not on the allow-list"
			if why, ok := allowed.allows(sk.key.test); ok {
				mark = "allowed: " + why
			} else {
				unlisted = append(unlisted, sk)
			}
			k := [2]string{sk.reason, mark}
			g := byReason[k]
			if g == nil {
				g = &group{reason: sk.reason, mark: mark}
				byReason[k] = g
				groups = append(groups, g)
			}
			g.tests = append(g.tests, sk.key.pkg+" "+sk.key.test)
		}
		for _, g := range groups {
			if len(g.tests) <= groupedAbove {
				for _, t := range g.tests {
					fmt.Fprintf(s.w, "  %s: %s [%s]\n", t, g.reason, g.mark)
				}
				continue
			}
			fmt.Fprintf(s.w, "  %d tests: %s [%s], among them %s, ...\n", len(g.tests), g.reason, g.mark,
				strings.Join(g.tests[:groupedAbove], "; "))
		}
	}
	for _, stale := range allowed.unused(skips) {
		fmt.Fprintf(s.w, "note: the allow-list names %s, which was not skipped\n", stale)
	}
	for _, p := range s.brokenPackages {
		fmt.Fprintf(s.w, "package %s failed outside its tests (build error, panic or timeout; see above)\n", p)
	}
	if strict && len(unlisted) > 0 {
		fmt.Fprintf(s.w, "%d skipped test(s) are not on the allow-list: make them run, or add them with a reason\n", len(unlisted))
		code = max(code, 1)
	}
	fmt.Fprintf(s.w, "%d passed, %d failed, %d skipped\n", passed, failed, len(skips))
	return code
}

// allowList is the reviewed list of skips CI accepts: test name (as go test names it,
// with its subtests) and the reason.
type allowList struct {
	names   []string
	reasons map[string]string
}

func readAllowList(name string) (allowList, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return allowList{}, err
	}
	return parseAllowList(name, string(data))
}

func parseAllowList(name, data string) (allowList, error) {
	a := allowList{reasons: map[string]string{}}
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		test, reason, _ := strings.Cut(line, " ")
		test, reason = strings.TrimSpace(test), strings.TrimSpace(reason)
		if !strings.HasPrefix(test, "Test") {
			return allowList{}, fmt.Errorf("%s:%d: %q is not a test name (TestX or TestX/subtest)", name, i+1, test)
		}
		if reason == "" {
			return allowList{}, fmt.Errorf("%s:%d: %s has no reason; every allowed skip says why", name, i+1, test)
		}
		if _, dup := a.reasons[test]; dup {
			return allowList{}, fmt.Errorf("%s:%d: %s is listed twice", name, i+1, test)
		}
		a.names = append(a.names, test)
		a.reasons[test] = reason
	}
	return a, nil
}

func (a allowList) allows(test string) (string, bool) {
	why, ok := a.reasons[test]
	return why, ok
}

// unused returns the listed tests that were not skipped: candidates for removal.
func (a allowList) unused(skips []skip) []string {
	seen := map[string]bool{}
	for _, sk := range skips {
		seen[sk.key.test] = true
	}
	var out []string
	for _, n := range a.names {
		if !seen[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
