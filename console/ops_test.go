package console

import (
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/imports"
)

// TestSpreadsheetSafe: a cell a spreadsheet would read as a formula gets a leading
// apostrophe; any other stays as it is.
func TestSpreadsheetSafe(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1", "'+1"}, {"-2-3", "'-2-3"}, {"@SUM(A1)", "'@SUM(A1)"}, {"\tx", "'\tx"}, {"\rx", "'\rx"},
		{"", ""}, {"alice", "alice"}, {"a=b", "a=b"}, {"{\"x\":1}", "{\"x\":1}"}, {"'quoted", "'quoted"},
	} {
		if got := spreadsheetSafe(c.in); got != c.want {
			t.Errorf("spreadsheetSafe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestImportJobPage renders each state of an import's page: the end-to-end tests
// mostly see it done, since a small import finishes before the first reload.
func TestImportJobPage(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		job  importJobView
		want []string
	}{
		{"running", importJobView{ID: "j", Name: "partners.csv", Rows: 3, Started: at, Running: "2s"},
			[]string{`id="import-running"`, "Applying 3 line(s)", "running for 2s", "<progress"}},
		{"failed", importJobView{ID: "j", Done: true, Error: "The file has 1 problem(s) now; nothing was imported.",
			Report: &imports.ImportReport{Problems: []imports.ImportProblem{{Line: 2, Column: "role", Message: "unknown role"}}}},
			[]string{`id="import-failed"`, "unknown role"}},
		{"done", importJobView{ID: "j", Done: true, Report: &imports.ImportReport{Applied: true, BatchID: "b1", GrantsCreated: 2,
			Lines: []imports.ImportLine{{Line: 2, Org: "paris", OrgAction: "create"}}}},
			[]string{`id="import-done"`, `id="batch">b1<`, "2 grant(s) created", "paris"}},
	} {
		var b strings.Builder
		if err := pages["importjob"].ExecuteTemplate(&b, "layout", view{Title: "Import", Page: c.job}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: the page lacks %q:\n%s", c.name, w, b.String())
			}
		}
	}
}
