package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
)

// A dry run of `orgscim import` names every problem of a line at once, whether the line
// has problems of its own (its cells) or only against the database (its org, role,
// connection), says nothing about an org a line could not reach, and reads the same
// file saved with semicolons or tabs. On each engine.
func TestImportDryRunListsEveryProblem(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := []string{"--database", dbtest.URL(t, engine)}
			mustCLI(t, append([]string{"org", "create", "--name", "Acme", "--slug", "acme"}, db...)...)
			mustCLI(t, append([]string{"connection", "create", "--org", "acme", "--idp", "okta"}, db...)...)
			mustCLI(t, append([]string{"role", "create", "--key", "viewer", "--permission", "x.read"}, db...)...)
			dir := t.TempDir()
			file := func(name, content string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			problems := func(out string) []string {
				var ps []string
				for _, l := range strings.Split(out, "\n") {
					if p, ok := strings.CutPrefix(l, "problem: "); ok {
						ps = append(ps, p)
					}
				}
				return ps
			}

			broken := file("broken.csv", "org_path,connection,email,role,expires_at\n"+
				// three bad cells: two of the line's own, one against the database
				"acme,,not-an-email,no.such.role,yesterday\n"+
				// a path whose first org is missing, an unknown role and connection
				"nowhere/sub,nope,x@acme.example,no.such.role,\n"+
				// a bad slug, and a connection that does not exist
				"acme/Bad Slug,nope,y@acme.example,viewer,\n")
			out, err := cli(t, append([]string{"import", "--dry-run", broken}, db...)...)
			if !errors.Is(err, errImportProblems) {
				t.Fatalf("dry run of a broken file: %v\n%s", err, out)
			}
			want := []string{
				`line 2 (email): "not-an-email" is not an e-mail address`,
				`line 2 (expires_at): "yesterday" is not an RFC 3339 time (2027-06-30T17:00:00Z) or a date (2027-06-30)`,
				`line 2 (role): unknown role "no.such.role"`,
				`line 3 (org_path): org "nowhere" does not exist; the path starts at an existing org`,
				`line 3 (role): unknown role "no.such.role"`,
				`line 3 (connection): no connection "nope"`,
				`line 4 (org_path): "Bad Slug" is not an org slug (lower-case letters, digits and hyphens)`,
				`line 4 (connection): no connection "nope"`,
			}
			got := problems(out)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("problems\n  %s\nwant\n  %s\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), out)
			}
			if strings.Contains(out, "exists") {
				t.Errorf("the dry run says an org exists that no line reached:\n%s", out)
			}

			// The same good file with each separator; a cell may hold the other ones.
			for _, sep := range []string{",", ";", "\t"} {
				rows := [][]string{{"org_path", "org_name", "email", "role", "reason"},
					{"acme/emea", `"Acme EMEA; Sales, Inc"`, "ann@acme.example", "viewer", `"audit, finance; q3"`}}
				var b strings.Builder
				for _, r := range rows {
					b.WriteString(strings.Join(r, sep) + "\n")
				}
				out, err := cli(t, append([]string{"import", "--dry-run", file("good.csv", b.String())}, db...)...)
				if err != nil || len(problems(out)) > 0 || !strings.Contains(out, "line 2: org emea create; user ann@acme.example in acme create; role viewer create") {
					t.Errorf("separator %q: %v\n%s", sep, err, out)
				}
			}
		})
	}
}
