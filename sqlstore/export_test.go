package sqlstore

import "database/sql"

// Exec runs raw SQL, for tests that play an attacker with direct database access.
func (db *DB) Exec(sql string, args ...any) error { return db.gorm.Exec(sql, args...).Error }

// Strings runs a query whose rows are one text column each, for tests that read the
// catalog.
func (db *DB) Strings(sql string, args ...any) ([]string, error) {
	var out []string
	err := db.gorm.Raw(sql, args...).Scan(&out).Error
	return out, err
}

// Count runs a SELECT count(*) for tests and benchmarks that check what was written.
func (db *DB) Count(sql string, args ...any) (int64, error) {
	var n int64
	err := db.gorm.Raw(sql, args...).Scan(&n).Error
	return n, err
}

// PoolStats is the connection pool's state, for the test of its bound.
func (db *DB) PoolStats() sql.DBStats {
	sqlDB, _ := db.gorm.DB()
	return sqlDB.Stats()
}
