package main

// Spreadsheet import and the access export, for operators at a terminal: the same
// domain calls as POST /api/v1/imports and GET /api/v1/access/export, with the
// authority of an operator.

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/imports"
)

// errImportProblems makes `orgscim import` exit 1 when the file has problems; the
// report on stdout names them.
var errImportProblems = fmt.Errorf("the file has problems; nothing was imported")

type importCmd struct {
	JSON   bool   `name:"json" help:"Print the report as JSON, as POST /api/v1/imports answers."`
	DryRun bool   `help:"Check the file and print what would change; change nothing."`
	File   string `arg:"" name:"FILE" help:"A CSV file, or - for standard input."`
	actor
}

func (importCmd) Help() string {
	return `The file is CSV (UTF-8) with a header row; only org_path is required (see the
README, "Importing a spreadsheet"). Everything is checked first and every problem is
reported with its line and column; a file with any problem imports nothing and exits 1.
A real run applies the whole file in one transaction. On a terminal, progress goes to
stderr.

Example:

    orgscim import partners.csv --dry-run
    orgscim import partners.csv --json
    cat partners.csv | orgscim import -`
}

func (c *importCmd) Run(env *cliEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	ctx := c.ctx(env.ctx)
	var data []byte
	var err error
	if c.File == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, imports.MaxImportBytes+1))
	} else {
		data, err = readCapped(c.File, imports.MaxImportBytes+1)
	}
	if err != nil {
		return err
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	// The import is one transaction with no steps to count: a spinner with the time
	// it has taken.
	verb := "importing"
	if c.DryRun {
		verb = "checking"
	}
	bar := newProgress(env.stderr, c.JSON, -1, fmt.Sprintf("%s %s (%d bytes)", verb, c.File, len(data)), "")
	stop := bar.spin()
	rep, err := newServices(db, nil).imports.Import(ctx, c.principal(), data, c.DryRun)
	stop()
	bar.Done()
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		if err := printJSON(env.stdout, adminapi.ImportReportJSON(rep)); err != nil {
			return err
		}
	} else {
		printImportReport(env.stdout, rep)
	}
	if len(rep.Problems) > 0 {
		return errImportProblems
	}
	return nil
}

func readCapped(name string, max int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

func printImportReport(w io.Writer, r *imports.ImportReport) {
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	for _, l := range r.Lines {
		fmt.Fprintf(w, "line %d: org %s %s", l.Line, l.Org, l.OrgAction)
		if l.UserName != "" {
			fmt.Fprintf(w, "; user %s in %s %s", l.UserName, l.Connection, l.UserAction)
		}
		if l.GrantAction != "" {
			until := "no expiry"
			if l.ExpiresAt != nil {
				until = "until " + l.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "; role %s %s (%s)", l.Role, l.GrantAction, until)
		}
		fmt.Fprintln(w)
	}
	verb := "imported"
	switch {
	case len(r.Problems) > 0:
		verb = fmt.Sprintf("%d problem(s), nothing imported; would have", len(r.Problems))
	case r.DryRun:
		verb = "dry run, nothing changed; would have"
	case !r.Applied:
		verb = "nothing to change;"
	}
	fmt.Fprintf(w, "%s %d org(s), %d user(s), %d grant(s) created, %d grant(s) replaced, %d line(s) unchanged (of %d)",
		verb, r.OrgsCreated, r.UsersCreated, r.GrantsCreated, r.GrantsReplaced, r.Unchanged, r.Rows)
	if r.BatchID != "" {
		fmt.Fprintf(w, "; batch %s", r.BatchID)
	}
	fmt.Fprintln(w)
}

type exportAccessCmd struct {
	Org string `placeholder:"SLUG" help:"The slug of the subtree's org; absent: the whole tree."`
	Out string `placeholder:"FILE" help:"Write to this file instead of standard output."`
}

func (exportAccessCmd) Help() string {
	return `One CSV line per grant in force on the subtree: org_path, user_name, email,
external_id, user_id, connection, role, source, source_id, granted_by, approved_by,
reason, valid_from, expires_at, grant_id. Cells a spreadsheet would read as a formula get
a leading '.

Example:

    orgscim export access --org acme --out acme-access.csv`
}

func (c *exportAccessCmd) Run(env *cliEnv) error {
	ctx, stdout, org, out := env.ctx, env.stdout, &c.Org, &c.Out
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	x := newServices(db, nil).exports
	by := cliPrincipal()
	root, err := x.Subtree(ctx, by, *org)
	if err != nil {
		return cliError(err)
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := x.WriteCSV(ctx, root, w); err != nil {
		return cliError(err)
	}
	if f, ok := w.(*os.File); ok && f != os.Stdout {
		return f.Close()
	}
	return nil
}
