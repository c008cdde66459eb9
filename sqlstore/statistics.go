package sqlstore

import (
	"context"
	"fmt"
)

// RefreshStatistics keeps the query planner's statistics close to the data, which
// autovacuum does on a default PostgreSQL but not where it is switched off or has not
// woken up yet: right after an IdP's initial sync of 100,000 users the planner still
// believes the tables are empty, and a lookup by id picks the wrong index and costs 60
// times as much. It analyzes each of this schema's tables whose rows changed by more than
// autovacuum's own threshold (50 rows plus 10%) since their last ANALYZE, and returns
// their names. On SQLite it runs PRAGMA optimize, which does the same for SQLite's
// planner. It is cheap when nothing changed: one catalogue query.
func (db *DB) RefreshStatistics(ctx context.Context) ([]string, error) {
	g := db.gorm.WithContext(ctx)
	if db.dialect.name != postgresDialect.name {
		return nil, g.Exec("PRAGMA optimize").Error
	}
	var stale []string
	err := g.Raw(`SELECT s.relname FROM pg_stat_user_tables s
		WHERE s.schemaname = current_schema()
		  AND s.n_mod_since_analyze > 50 + 0.1 * GREATEST(s.n_live_tup, 0)
		ORDER BY s.relname`).Scan(&stale).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore: statistics: %w", err)
	}
	for _, t := range stale {
		// The names come from the catalogue of our own schema; quoting keeps them
		// identifiers whatever they are.
		if err := g.Exec(`ANALYZE ` + quoteIdent(t)).Error; err != nil {
			return nil, fmt.Errorf("sqlstore: analyze %s: %w", t, err)
		}
	}
	return stale, nil
}

func quoteIdent(s string) string {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}

// firstAnalysisBytes is how large a never-analyzed table grows before AnalyzeFirst
// analyzes it: eight pages, a few hundred users.
const firstAnalysisBytes = 8 * 8192

// AnalyzeFirst analyzes each of this schema's tables that PostgreSQL has never analyzed
// (reltuples < 0) and that holds some rows by now, and returns their names; on SQLite it
// does nothing. The server asks every second, one catalogue query, because
// RefreshStatistics' interval is too slow for a table's first statistics: until then its
// columns have none, and a connection's generic plan cached meanwhile stays wrong until
// the next ANALYZE — the `userName eq` lookup walked every user of its connection
// through another partial index (docs/PERFORMANCE.md, "A create's statements in
// PostgreSQL"). The size is the table's file's, so a row count the statistics collector
// has not published yet does not delay it. Each table is analyzed once this way; later
// changes are RefreshStatistics'.
func (db *DB) AnalyzeFirst(ctx context.Context) ([]string, error) {
	if db.dialect.name != postgresDialect.name {
		return nil, nil
	}
	g := db.gorm.WithContext(ctx)
	var fresh []string
	err := g.Raw(`SELECT c.relname FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
		  AND c.reltuples < 0 AND pg_relation_size(c.oid) >= ?
		ORDER BY c.relname`, firstAnalysisBytes).Scan(&fresh).Error
	if err != nil {
		return nil, fmt.Errorf("sqlstore: statistics: %w", err)
	}
	for _, t := range fresh {
		if err := g.Exec(`ANALYZE ` + quoteIdent(t)).Error; err != nil {
			return nil, fmt.Errorf("sqlstore: analyze %s: %w", t, err)
		}
	}
	return fresh, nil
}
