// Package migrations holds the versioned SQL schema of orgscim, one set per engine,
// embedded in the binary. Files are named NNNN_description.sql and applied in order by
// sqlstore, under a lock, each in its own transaction with its version row.
//
// A migration that has been released is never edited: add a new file instead.
package migrations

import "embed"

// Postgres and SQLite are the migration sets of the two engines, in folders named
// postgres/ and sqlite/.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
