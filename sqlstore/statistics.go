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
