package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
)

// TestImportCLI drives `orgscim import` and `orgscim export access` as an operator at a
// terminal would: the broken file exits non-zero naming its lines, the dry run changes
// nothing, the import applies once, and the export file holds its grants.
func TestImportCLI(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbURL := dbtest.URL(t, engine)
			runCLI := func(args ...string) (string, error) {
				var stdout, stderr strings.Builder
				err := run(ctx, append(args, "--database", dbURL), &stdout, &stderr)
				return stdout.String(), err
			}
			cli := func(args ...string) string {
				t.Helper()
				out, err := runCLI(args...)
				if err != nil {
					t.Fatalf("%v: %v\n%s", args, err, out)
				}
				return out
			}
			importJSON := func(args ...string) (map[string]any, error) {
				t.Helper()
				out, err := runCLI(append([]string{"import"}, append(args, "--json")...)...)
				var m map[string]any
				if jerr := json.Unmarshal([]byte(out), &m); jerr != nil {
					t.Fatalf("import %v: %v\n%s", args, jerr, out)
				}
				return m, err
			}
			cli("org", "create", "--name", "Vendor", "--slug", "vendor")
			cli("org", "create", "--name", "Acme", "--slug", "acme", "--parent", "vendor")
			cli("org", "create", "--name", "Globex", "--slug", "globex", "--parent", "vendor")
			cli("connection", "create", "--org", "acme", "--idp", "okta")
			cli("connection", "create", "--org", "globex")
			cli("role", "create", "--key", "billing.viewer", "--permission", "billing.read", "--inherits")
			cli("role", "create", "--key", "support.agent", "--permission", "tickets.read")
			cli("role", "create", "--key", "billing.admin", "--permission", "billing.*", "--privileged", "--max-duration", "1h")
			good := filepath.Join("..", "..", "testdata", "import", "partners.csv")
			broken := filepath.Join("..", "..", "testdata", "import", "partners-broken.csv")

			// The broken file: exit non-zero, each problem by line, in text and JSON.
			out, err := runCLI("import", broken, "--dry-run")
			if !errors.Is(err, errImportProblems) || !strings.Contains(out, "problem: line 3 (role): unknown role \"no.such.role\"") ||
				!strings.Contains(out, "problem: line 5 (expires_at)") {
				t.Fatalf("dry run of the broken file: %v\n%s", err, out)
			}
			rep, err := importJSON(broken)
			if !errors.Is(err, errImportProblems) || rep["applied"] != false || len(rep["problems"].([]any)) < 5 {
				t.Fatalf("import of the broken file: %v %v", err, rep)
			}

			// Dry run, import, import again.
			if rep, err := importJSON("--dry-run", good); err != nil || rep["applied"] != false || rep["grants_created"] != 4.0 {
				t.Fatalf("dry run: %v %v", err, rep)
			}
			rep, err = importJSON(good)
			if err != nil || rep["applied"] != true || rep["grants_created"] != 4.0 || rep["batch_id"] == nil {
				t.Fatalf("import: %v %v", err, rep)
			}
			batch := rep["batch_id"].(string)
			if out := cli("import", good); !strings.Contains(out, "nothing to change; 0 org(s), 0 user(s), 0 grant(s) created, 0 grant(s) replaced, 5 line(s) unchanged (of 5)") {
				t.Fatalf("second import:\n%s", out)
			}

			// The export, to a file.
			file := filepath.Join(t.TempDir(), "access.csv")
			cli("export", "access", "--org", "acme", "--out", file)
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
			if err != nil || len(recs) != 5 {
				t.Fatalf("export: %v\n%s", err, b)
			}
			for _, r := range recs[1:] {
				if r[7] != "import" || r[8] != batch || !strings.HasPrefix(r[9], "operator:cli:") {
					t.Errorf("exported grant %v", r)
				}
			}
			if out, err := runCLI("export", "access", "--org", "nowhere"); err == nil {
				t.Errorf("export of an unknown org: %s", out)
			}
		})
	}
}
