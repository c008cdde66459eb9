package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/sqlstore"
)

// DefaultDatabase is where `make run` keeps its data.
const DefaultDatabase = "sqlite:data/orgscim.db"

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newFlags returns a flag set with the --database flag every command takes.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("database", envOr("ORGSCIM_DATABASE_URL", DefaultDatabase), "database URL: sqlite:PATH or postgres://... (env ORGSCIM_DATABASE_URL)")
	return fs, db
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

// argAndFlags parses a subcommand's one positional argument — given before, between
// or after its flags; "-" is an argument, standard input — and its flags.
func argAndFlags(fs *flag.FlagSet, args []string, name string, stderr io.Writer) (string, error) {
	var arg string
	if len(args) > 0 && (args[0] == "-" || !strings.HasPrefix(args[0], "-")) {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", errUsage
	}
	rest := fs.Args()
	if arg == "" && len(rest) > 0 {
		arg, rest = rest[0], rest[1:]
	}
	if err := parse(fs, rest); err != nil {
		return "", err
	}
	if arg == "" {
		fmt.Fprintf(stderr, "%s: %s is required\n", fs.Name(), name)
		return "", errUsage
	}
	return arg, nil
}

func open(ctx context.Context, url string) (*sqlstore.DB, error) {
	db, err := sqlstore.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// cliError makes a domain error readable on a terminal.
func cliError(err error) error {
	if err == nil {
		return nil
	}
	if orgscim.ErrorCode(err) != orgscim.Internal {
		return fmt.Errorf("%s", orgscim.ErrorMessage(err))
	}
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("migrate", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "migrations applied (%s)\n", db.Engine())
	return nil
}
