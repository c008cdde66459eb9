package main

// Spreadsheet import and the access export, for operators at a terminal: the same
// domain calls as POST /api/v1/imports and GET /api/v1/access/export, with the
// authority of an operator.

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/orgs"
)

// errImportProblems makes `orgscim import` exit 1 when the file has problems; the
// report on stdout names them.
var errImportProblems = fmt.Errorf("the file has problems; nothing was imported")

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("import", stderr)
	dryRun := fs.Bool("dry-run", false, "check the file and print what would change; change nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON, as POST /api/v1/imports answers")
	file, err := argAndFlags(fs, args, "FILE (a CSV file, or - for standard input)", stderr)
	if err != nil {
		return err
	}
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, orgs.MaxImportBytes+1))
	} else {
		data, err = readCapped(file, orgs.MaxImportBytes+1)
	}
	if err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := newServices(db, nil).imports.Import(ctx, cliOperator(), data, *dryRun)
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		if err := printJSON(stdout, adminapi.ImportReportJSON(rep)); err != nil {
			return err
		}
	} else {
		printImportReport(stdout, rep)
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

func printImportReport(w io.Writer, r *orgs.ImportReport) {
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

func exportAccess(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("export access", stderr)
	org := fs.String("org", "", "the slug of the subtree's org; absent: the whole tree")
	out := fs.String("out", "", "write to this file instead of standard output")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	x := newServices(db, nil).exports
	by := cliOperator()
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
