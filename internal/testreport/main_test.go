package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ev builds one go test -json line.
func ev(action, pkg, test, output string) string {
	q := func(s string) string {
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(s)
	}
	return `{"Action":"` + action + `","Package":"` + pkg + `","Test":"` + q(test) + `","Output":"` + q(output) + `"}`
}

const pkgA = "example.com/m/a"

var (
	passing = []string{
		ev("run", pkgA, "TestOK", ""),
		ev("output", pkgA, "TestOK", "=== RUN   TestOK\n"),
		ev("output", pkgA, "TestOK", "    a_test.go:9: chatter of a passing test\n"),
		ev("output", pkgA, "TestOK", "--- PASS: TestOK (0.00s)\n"),
		ev("pass", pkgA, "TestOK", ""),
	}
	skipping = []string{
		ev("run", pkgA, "TestDB", ""),
		ev("run", pkgA, "TestDB/sqlite", ""),
		ev("pass", pkgA, "TestDB/sqlite", ""),
		ev("run", pkgA, "TestDB/postgres", ""),
		ev("output", pkgA, "TestDB/postgres", "=== RUN   TestDB/postgres\n"),
		ev("output", pkgA, "TestDB/postgres", "    dbtest.go:44: ORGSCIM_TEST_DATABASE_URL not set: PostgreSQL skipped\n"),
		ev("output", pkgA, "TestDB/postgres", "--- SKIP: TestDB/postgres (0.00s)\n"),
		ev("skip", pkgA, "TestDB/postgres", ""),
		ev("pass", pkgA, "TestDB", ""),
	}
	failing = []string{
		ev("run", pkgA, "TestBroken", ""),
		ev("output", pkgA, "TestBroken", "=== RUN   TestBroken\n"),
		ev("output", pkgA, "TestBroken", "    a_test.go:20: got 2, want 3\n"),
		ev("output", pkgA, "TestBroken", "--- FAIL: TestBroken (0.01s)\n"),
		ev("fail", pkgA, "TestBroken", ""),
	}
	pkgOK   = []string{ev("output", pkgA, "", "PASS\n"), ev("output", pkgA, "", "ok  \texample.com/m/a\t0.1s\n"), ev("pass", pkgA, "", "")}
	pkgFail = []string{ev("output", pkgA, "", "FAIL\n"), ev("output", pkgA, "", "FAIL\texample.com/m/a\t0.1s\n"), ev("fail", pkgA, "", "")}
)

// manySkips is n tests skipped for one reason.
func manySkips(n int) []string {
	var out []string
	for i := range n {
		name := "TestP" + string(rune('0'+i)) + "/postgres"
		out = append(out, ev("output", pkgA, name, "    dbtest.go:44: no PostgreSQL\n"), ev("skip", pkgA, name, ""))
	}
	return out
}

func stream(parts ...[]string) string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return strings.Join(all, "\n") + "\n"
}

func TestSummary(t *testing.T) {
	allowed, err := parseAllowList("allowed", "# reviewed\nTestDB/postgres the machine has no PostgreSQL\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		events    string
		goTest    int // go test's exit status
		allowed   allowList
		strict    bool
		wantCode  int
		wantLast  string
		wantIn    []string
		wantNotIn []string
	}{
		{name: "all pass", events: stream(passing, pkgOK), wantLast: "1 passed, 0 failed, 0 skipped",
			wantIn: []string{"ok  \texample.com/m/a\t0.1s"}, wantNotIn: []string{"chatter", "skipped ("}},
		{name: "skip listed with its reason, not fatal without -strict", events: stream(passing, skipping, pkgOK),
			wantLast: "3 passed, 0 failed, 1 skipped",
			wantIn:   []string{"skipped (1):", "example.com/m/a TestDB/postgres: ORGSCIM_TEST_DATABASE_URL not set: PostgreSQL skipped [not on the allow-list]"}},
		{name: "strict fails an unlisted skip", events: stream(passing, skipping, pkgOK), strict: true, wantCode: 1,
			wantLast: "3 passed, 0 failed, 1 skipped", wantIn: []string{"1 skipped test(s) are not on the allow-list"}},
		{name: "strict accepts a listed skip", events: stream(passing, skipping, pkgOK), strict: true, allowed: allowed,
			wantLast: "3 passed, 0 failed, 1 skipped", wantIn: []string{"[allowed: the machine has no PostgreSQL]"}},
		{name: "many skips for one reason make one line", events: stream(passing, manySkips(5), pkgOK),
			wantLast: "1 passed, 0 failed, 5 skipped",
			wantIn: []string{"  5 tests: no PostgreSQL [not on the allow-list], among them example.com/m/a TestP0/postgres; " +
				"example.com/m/a TestP1/postgres; example.com/m/a TestP2/postgres, ..."},
			wantNotIn: []string{"TestP3/postgres"}},
		{name: "a listed skip that did not happen is noted", events: stream(passing, pkgOK), strict: true, allowed: allowed,
			wantLast: "1 passed, 0 failed, 0 skipped", wantIn: []string{"note: the allow-list names TestDB/postgres, which was not skipped"}},
		{name: "failure shows the test's output and keeps go test's status", events: stream(passing, failing, pkgFail), goTest: 1,
			wantCode: 1, wantLast: "1 passed, 1 failed, 0 skipped",
			wantIn:    []string{"    a_test.go:20: got 2, want 3\n--- FAIL: TestBroken (0.01s)", "FAIL\texample.com/m/a"},
			wantNotIn: []string{"=== RUN", "package example.com/m/a failed outside"}},
		{name: "a package failing outside its tests is named", events: stream(passing,
			[]string{ev("output", pkgA, "", "panic: test timed out after 20m0s\n")}, pkgFail), goTest: 1,
			wantCode: 1, wantLast: "1 passed, 0 failed, 0 skipped",
			wantIn: []string{"panic: test timed out", "package example.com/m/a failed outside its tests"}},
		{name: "build failure", events: `{"ImportPath":"example.com/m/b [example.com/m/b.test]","Action":"build-output","Output":"b/b.go:3:1: syntax error\n"}` + "\n" +
			`{"ImportPath":"example.com/m/b [example.com/m/b.test]","Action":"build-fail"}` + "\n" + "FAIL\texample.com/m/b [build failed]\n",
			goTest: 1, wantCode: 1, wantLast: "0 passed, 0 failed, 0 skipped",
			wantIn: []string{"b/b.go:3:1: syntax error", "FAIL\texample.com/m/b [build failed]", "package example.com/m/b [example.com/m/b.test] failed outside"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			s := newSummary(&out)
			if err := s.read(strings.NewReader(tc.events)); err != nil {
				t.Fatal(err)
			}
			code := s.finish(tc.goTest, tc.allowed, tc.strict)
			got := out.String()
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d\n%s", code, tc.wantCode, got)
			}
			lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
			if last := lines[len(lines)-1]; last != tc.wantLast {
				t.Errorf("last line %q, want %q\n%s", last, tc.wantLast, got)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNotIn {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestAllowListRefusesEntriesWithoutReason(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"TestA\n", "TestA has no reason"},
		{"TestA why\nTestA again\n", "TestA is listed twice"},
		{"a_test.go why\n", "is not a test name"},
	} {
		if _, err := parseAllowList("f", tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v; want an error with %q", tc.data, err, tc.want)
		}
	}
}

// The project's own allow-list parses, and every entry says why.
func TestProjectAllowList(t *testing.T) {
	a, err := readAllowList(filepath.Join("..", "..", ".ci", "allowed-skips"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range a.names {
		if len(a.reasons[n]) < 10 {
			t.Errorf("%s: reason %q says too little", n, a.reasons[n])
		}
	}
}

// run drives a real child command and passes its exit status through, writing the skip
// list and the raw events where asked.
func TestRunPassesStatusAndWritesFiles(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	if err := os.WriteFile(events, []byte(stream(passing, skipping, failing, pkgFail)), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, skips := filepath.Join(dir, "raw.json"), filepath.Join(dir, "skips")
	var out, errOut strings.Builder
	code := run([]string{"-json", raw, "-skips", skips, "--", "sh", "-c", `cat "$0"; exit 3`, events}, &out, &errOut)
	if code != 3 {
		t.Errorf("exit status %d, want go test's 3\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.HasSuffix(out.String(), "3 passed, 1 failed, 1 skipped\n") {
		t.Errorf("output:\n%s", out.String())
	}
	if b, _ := os.ReadFile(skips); string(b) != "example.com/m/a TestDB/postgres\tORGSCIM_TEST_DATABASE_URL not set: PostgreSQL skipped\n" {
		t.Errorf("skip list %q", b)
	}
	if b, _ := os.ReadFile(raw); string(b) != stream(passing, skipping, failing, pkgFail) {
		t.Errorf("raw events not kept: %q", b)
	}
}
