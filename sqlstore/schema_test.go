package sqlstore_test

import (
	"slices"
	"testing"

	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// Each table is written twice, once per engine (migrations/postgres and
// migrations/sqlite). TestSchemasAgree keeps the two from drifting: after every
// migration, both engines have the same tables, the same columns in each, the same
// named indexes, and the same unique keys (by the columns they cover, since PostgreSQL
// names an inline UNIQUE table_column_key and SQLite sqlite_autoindex_N). Types are not
// compared: the dialects name them differently on purpose (jsonb and TEXT, timestamptz
// and DATETIME).
func TestSchemasAgree(t *testing.T) {
	if dbtest.PostgresURL() == "" {
		t.Skip("ORGSCIM_TEST_DATABASE_URL not set: needs both engines")
	}
	pg := describe(t, dbtest.Open(t, "postgres"), map[string]string{
		"tables": `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
		"columns": `SELECT table_name || '.' || column_name FROM information_schema.columns
			WHERE table_schema = current_schema()`,
		"indexes": `SELECT t.relname || '.' || i.relname FROM pg_index x
			JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
			WHERE t.relnamespace = current_schema()::regnamespace
			  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)`,
		"unique keys": `SELECT t.relname || '(' || (SELECT string_agg(a.attname, ',' ORDER BY a.attname)
				FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attnum = ANY(x.indkey)) || ')'
			FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid
			WHERE t.relnamespace = current_schema()::regnamespace AND x.indisunique AND NOT x.indisprimary`,
	})
	lite := describe(t, dbtest.Open(t, "sqlite"), map[string]string{
		"tables": `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
		"columns": `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`,
		"indexes": `SELECT tbl_name || '.' || name FROM sqlite_master
			WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'`,
		"unique keys": `SELECT m.name || '(' || (SELECT group_concat(n, ',') FROM
				(SELECT ii.name AS n FROM pragma_index_info(il.name) ii ORDER BY ii.name)) || ')'
			FROM sqlite_master m, pragma_index_list(m.name) il
			WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND il."unique" = 1 AND il.origin != 'pk'`,
	})
	for _, what := range []string{"tables", "columns", "indexes", "unique keys"} {
		if len(pg[what]) == 0 || len(lite[what]) == 0 {
			t.Fatalf("no %s read: a catalog query is wrong", what)
		}
		for _, name := range pg[what] {
			if !slices.Contains(lite[what], name) && !slices.Contains(onPostgresOnly, name) {
				t.Errorf("%s: %s is on PostgreSQL only", what, name)
			}
		}
		for _, name := range lite[what] {
			if !slices.Contains(pg[what], name) && !slices.Contains(onSQLiteOnly, name) {
				t.Errorf("%s: %s is on SQLite only", what, name)
			}
		}
	}
}

// What one engine has on purpose, each with its reason.
var (
	onPostgresOnly = []string{
		// A text_pattern_ops index serves SCIM's sw/co filters (LIKE) under a non-C
		// collation; SQLite's LIKE cannot use an index that way. (userName's key is
		// compared bytewise, so its unique index serves LIKE itself.)
		"scim_groups.scim_groups_display_name_pattern",
	}
	onSQLiteOnly = []string{
		// SQLite has no sequences: audit event numbers come from this one-row counter
		// where PostgreSQL uses a sequence.
		"audit_event_numbers", "audit_event_numbers.id", "audit_event_numbers.last",
	}
)

func describe(t *testing.T, db *sqlstore.DB, queries map[string]string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for what, q := range queries {
		names, err := db.Strings(q)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		out[what] = names
	}
	return out
}
