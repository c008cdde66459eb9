package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/orgscim/orgscim/httpmetrics"
	"github.com/orgscim/orgscim/internal/dbtest"
)

// run2 runs one command and returns its stdout and stderr apart.
func run2(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb strings.Builder
	err = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// commandNodes is every command of the command line, groups included.
func commandNodes(t *testing.T) []*kong.Node {
	t.Helper()
	k, err := newParser(&commandLine{}, &strings.Builder{}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*kong.Node
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, ch := range n.Children {
			out = append(out, ch)
			walk(ch)
		}
	}
	walk(k.Model.Node)
	return out
}

// Every command and group answers --help and -h on stdout with exit 0: its usage line,
// its flags in GNU form, and for each command an example.
func TestHelpOfEveryCommand(t *testing.T) {
	nodes := commandNodes(t)
	if len(nodes) < 50 {
		t.Fatalf("only %d commands in the model", len(nodes))
	}
	for _, n := range nodes {
		path := strings.Fields(n.Path())
		for _, h := range []string{"--help", "-h"} {
			out, errOut, err := run2(t, append(path, h)...)
			if err != nil || errOut != "" {
				t.Errorf("%s %s: %v, stderr %q", n.Path(), h, err, errOut)
				continue
			}
			if !strings.HasPrefix(out, "Usage: orgscim "+n.Path()) || !strings.Contains(out, "--database=URL") {
				t.Errorf("%s %s: no usage line or --database:\n%s", n.Path(), h, out)
			}
			if len(n.Children) == 0 && (!strings.Contains(out, "xample") || !strings.Contains(out, "\n    orgscim "+path[0])) {
				t.Errorf("%s %s: no example:\n%s", n.Path(), h, out)
			}
		}
	}
	out, _, err := run2(t, "--help")
	if err != nil || !strings.Contains(out, "org create") || !strings.Contains(out, "Exit status: 0 success") {
		t.Errorf("orgscim --help: %v\n%s", err, out)
	}
	// No command at all: the same help, as a usage error on stderr.
	out, errOut, err := run2(t)
	if !errors.Is(err, errUsage) || out != "" || !strings.Contains(errOut, "Commands:") {
		t.Errorf("orgscim alone: %v, stdout %q, stderr %q", err, out, errOut)
	}
}

// Every command that prints a result takes --json; those that do not print one, or print
// only JSON or another format, are listed here with the reason.
func TestJSONOnEveryCommandThatPrintsAResult(t *testing.T) {
	without := map[string]string{
		"serve":         "runs the server; logs are JSON lines already",
		"export access": "writes CSV, the auditors' format",
		"completion":    "prints a shell script",
		// The audit log's artefacts are formats of their own, for witnesses and scripts.
		"audit checkpoint": "prints a signed note (C2SP), the witnesses' format",
		"audit public-key": "prints the note verifier key, as scripts pass it on",
		"audit seal":       "prints the signed note it made",
		"audit export":     "writes the evidence bundle, JSON already",
	}
	for _, n := range commandNodes(t) {
		if len(n.Children) > 0 {
			continue
		}
		has := false
		for _, f := range n.Flags {
			has = has || f.Name == "json"
		}
		if _, exempt := without[n.Path()]; has == exempt {
			t.Errorf("%s: --json %v, exempt %v", n.Path(), has, exempt)
		}
	}
}

// A mistake says what was wrong, the command's usage line and where its help is, and
// exits 2 (errUsage); nothing goes to stdout.
func TestUsageErrorsNameTheFix(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"org", "create", "--nme", "Acme"}, []string{`unknown flag --nme, did you mean "--name"?`,
			"usage: orgscim org create --name=NAME [flags]", "see orgscim org create --help"}},
		{[]string{"org", "create"}, []string{"--name is required", "see orgscim org create --help"}},
		{[]string{"access", "check", "--connection", "acme"}, []string{"--org and --permission are required"}},
		{[]string{"access", "check", "--connection", "acme", "--org", "acme", "--permission", "p"}, []string{"name either --connection and --user, or --service-account"}},
		{[]string{"org"}, []string{`expected one of "create", "update", "move"`, "usage: orgscim org <command>", "see orgscim org --help"}},
		{[]string{"frobnicate"}, []string{"unexpected argument frobnicate", "see orgscim --help"}},
		{[]string{"token", "rotate", "stop", "--connection", "acme"}, []string{"unexpected argument stop", "see orgscim token rotate --help"}},
		{[]string{"reconcile", "show"}, []string{`expected "<RUN>"`, "usage: orgscim reconcile show <RUN>"}},
		{[]string{"reconcile", "--batch", "0"}, []string{"--batch must be at least 1", "see orgscim reconcile run --help"}},
		{[]string{"org", "update", "--slug", "acme"}, []string{"nothing to change"}},
		{[]string{"org", "update", "--slug", "acme", "--contract-end", "soon"}, []string{`--contract-end: "soon" is not an RFC 3339 time`}},
		{[]string{"connection", "create", "--org", "acme", "--as", "mallory:admin"}, []string{`--as "mallory:admin": an operator name has no colon`}},
		{[]string{"completion", "powershell"}, []string{`<shell> must be one of "bash","zsh","fish"`}},
		{[]string{"serve", "--reconcile-at", "2am"}, []string{"--reconcile-at: want HH:MM"}},
	} {
		out, errOut, err := run2(t, append(tt.args, "--database", "sqlite:"+t.TempDir()+"/never.db")...)
		if !errors.Is(err, errUsage) || out != "" {
			t.Errorf("%v: %v, stdout %q", tt.args, err, out)
		}
		for _, w := range tt.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tt.args, w, errOut)
			}
		}
	}
}

// The commands and flags of the public contract (CONTRACT.md, the README) keep working
// as they were written, with the database from the environment; so do the single-dash
// flags of scripts written for the flag package, and positional arguments before or
// after the flags.
func TestContractCommandsKeepWorking(t *testing.T) {
	for _, engine := range dbtest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Setenv("ORGSCIM_DATABASE_URL", dbtest.URL(t, engine))
			decode := func(out string, v any) {
				t.Helper()
				if err := json.Unmarshal([]byte(out), v); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
			}
			var parent, child struct{ ID, Slug string }
			decode(mustCLI(t, "org", "create", "--name", "Acme", "--slug", "acme", "--json"), &parent)
			decode(mustCLI(t, "org", "create", "--name", "Acme EMEA", "--slug", "acme-emea", "--parent", "acme", "--json"), &child)
			if parent.Slug != "acme" || child.Slug != "acme-emea" {
				t.Errorf("org create: %+v %+v", parent, child)
			}
			var conn struct{ Slug, Token, IdP string }
			decode(mustCLI(t, "connection", "create", "--org", "acme", "--slug", "acme-entra", "--idp", "entra", "--json"), &conn)
			if conn.Slug != "acme-entra" || conn.IdP != "entra" || !strings.HasPrefix(conn.Token, "oscim_") {
				t.Errorf("connection create: %+v", conn)
			}
			var tok struct{ Token string }
			decode(mustCLI(t, "token", "create", "--connection", "acme-entra", "--json"), &tok)
			if !strings.HasPrefix(tok.Token, "oscim_") || tok.Token == conn.Token {
				t.Errorf("token create: %+v", tok)
			}
			var pass struct {
				Report struct {
					DryRun bool `json:"dry_run"`
				}
			}
			decode(mustCLI(t, "reconcile", "--dry-run", "--json"), &pass)
			if !pass.Report.DryRun {
				t.Errorf("reconcile --dry-run --json: %+v", pass)
			}
			// Scripts written for Go's flag package: single dashes.
			if out := mustCLI(t, "org", "create", "-name", "Globex", "-slug", "globex", "-json"); !strings.Contains(out, `"slug": "globex"`) {
				t.Errorf("single-dash flags: %s", out)
			}
			// --database given explicitly wins over the environment.
			other := "sqlite:" + t.TempDir() + "/other.db"
			if out := mustCLI(t, "org", "create", "--name", "Initech", "--database", other); !strings.Contains(out, "org initech created") {
				t.Errorf("--database: %s", out)
			}
			if out, err := cli(t, "connection", "create", "--org", "initech"); err == nil {
				t.Errorf("the org of the other database is in this one: %s", out)
			}
			// The positional argument of connection health before and after its flags.
			for _, args := range [][]string{{"connection", "health", "acme-entra", "--last", "0"}, {"connection", "health", "--last", "0", "acme-entra"}} {
				if out := mustCLI(t, args...); !strings.Contains(out, "connection acme-entra (") {
					t.Errorf("%v: %s", args, out)
				}
			}
		})
	}
}

// orgscim version names the build; --json has the fields of the build_info metric.
func TestVersionCommand(t *testing.T) {
	out := mustCLI(t, "version")
	b := httpmetrics.ReadBuild()
	if !strings.HasPrefix(out, "orgscim "+b.Version+", ") || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: %q", out)
	}
	var got httpmetrics.Build
	if err := json.Unmarshal([]byte(mustCLI(t, "version", "--json")), &got); err != nil || got != b {
		t.Errorf("version --json: %+v %v, want %+v", got, err, b)
	}
}

// serve on a taken address says which flag or variable changes it, before it touches
// the database.
func TestServeOnATakenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	dir := t.TempDir()
	for _, args := range [][]string{{"serve", "--addr", addr}, {"serve"}} {
		t.Setenv("ORGSCIM_ADDR", addr)
		_, _, err := run2(t, append(args, "--database", "sqlite:"+dir+"/orgscim.db")...)
		want := "address " + addr + " is in use: pass --addr HOST:PORT or set ORGSCIM_ADDR"
		if err == nil || err.Error() != want {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
	if _, err := os.Stat(dir + "/orgscim.db"); !os.IsNotExist(err) {
		t.Errorf("the database was created before the address was checked: %v", err)
	}
}
