package adminapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgscim/orgscim/authzen"
)

// redoclyBin is where `make redocly` installs Redocly CLI (npm @redocly/cli), inside the
// repository; ORGSCIM_REDOCLY names another one.
const redoclyBin = "../bin/tools/node_modules/.bin/redocly"

// The admin API's OpenAPI document passes `redocly lint` with its recommended rules and
// no error: what API tooling (client generators, gateways, docs) will read. Without
// Redocly CLI the test skips and says how to install it; CI installs it (.ci/run runs
// `make redocly`) and fails on any skip not on .ci/allowed-skips.
func TestOpenAPIPassesRedoclyLint(t *testing.T) {
	bin := os.Getenv("ORGSCIM_REDOCLY")
	if bin == "" {
		bin = redoclyBin
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("ORGSCIM_REQUIRE_REDOCLY") == "1" {
			t.Fatalf("ORGSCIM_REQUIRE_REDOCLY=1 but %s is missing: run make redocly", bin)
		}
		t.Skipf("Redocly CLI is not installed at %s: run make redocly (needs npm)", bin)
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The document as the server serves it, with the AuthZEN PDP's endpoints.
	srv := &Server{Extra: ExtraOpenAPI{Paths: authzen.OpenAPIPaths("adminKey"), Schemas: authzen.OpenAPISchemas(),
		Tags: [][2]string{{authzen.Tag, authzen.TagDescription}}}}
	raw, err := json.MarshalIndent(srv.OpenAPI(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(doc, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	// A config of its own, so that no redocly.yaml elsewhere changes the rules.
	cfg := filepath.Join(dir, "redocly.yaml")
	if err := os.WriteFile(cfg, []byte("extends:\n  - recommended\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--config", cfg, "--format", "json", doc)
	cmd.Dir = dir
	// No telemetry or update checks: the run stays local and deterministic.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var report struct {
		Totals struct {
			Errors   int `json:"errors"`
			Warnings int `json:"warnings"`
		} `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &report); err != nil {
		t.Fatalf("redocly lint printed no JSON report (%v, %v):\n%s\n%s", runErr, err, stdout.String(), stderr.String())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		if p.Severity == "error" {
			t.Errorf("%s %s: %s", p.RuleID, where, p.Message)
		} else {
			t.Logf("warning: %s %s: %s", p.RuleID, where, p.Message)
		}
	}
	if report.Totals.Errors > 0 || runErr != nil {
		t.Errorf("redocly lint: %d error(s), %d warning(s) (%v)", report.Totals.Errors, report.Totals.Warnings, runErr)
	}
}
