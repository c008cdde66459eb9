// Package redoclylint checks an OpenAPI document with Redocly CLI's recommended rules,
// for the tests of every package that serves one (the admin API, the Shared Signals
// transmitter): what API tooling — client generators, gateways, docs — will read.
//
// Redocly CLI is what `make redocly` installs under bin/tools; ORGSCIM_REDOCLY names
// another. Without it a test skips and says how to install it, unless
// ORGSCIM_REQUIRE_REDOCLY=1 (CI installs it and fails on any skip it does not allow).
package redoclylint

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Lint writes doc as JSON and fails t on every error `redocly lint` reports; warnings
// are logged.
func Lint(t testing.TB, doc any) {
	t.Helper()
	bin := binary(t)
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "openapi.json")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	// A config of its own, so that no redocly.yaml elsewhere changes the rules.
	cfg := filepath.Join(dir, "redocly.yaml")
	if err := os.WriteFile(cfg, []byte("extends:\n  - recommended\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "lint", "--config", cfg, "--format", "json", file)
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

// binary is Redocly CLI's path: ORGSCIM_REDOCLY, or bin/tools under the module's root.
func binary(t testing.TB) string {
	if bin := os.Getenv("ORGSCIM_REDOCLY"); bin != "" {
		return bin
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "tools", "node_modules", ".bin", "redocly")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("ORGSCIM_REQUIRE_REDOCLY") == "1" {
			t.Fatalf("ORGSCIM_REQUIRE_REDOCLY=1 but %s is missing: run make redocly", bin)
		}
		t.Skipf("Redocly CLI is not installed at %s: run make redocly (needs npm)", bin)
	}
	return bin
}

// moduleRoot is the nearest directory above the test's own holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
