package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/orgscim/orgscim"
)

// DefaultDatabase is where `make run` keeps its data.
const DefaultDatabase = "sqlite:data/orgscim.db"

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
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

type migrateCmd struct {
	jsonFlag
}

func (migrateCmd) Help() string {
	return `Every command applies pending migrations itself, under a lock, so concurrent starts
do not race; migrate does only that, e.g. as a deployment's init step.

Example:

    orgscim migrate --database 'postgres://orgscim@db:5432/orgscim?sslmode=require'`
}

func (c *migrateCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"engine": db.Engine(), "migrated": true})
	}
	fmt.Fprintf(env.stdout, "migrations applied (%s)\n", db.Engine())
	return nil
}
