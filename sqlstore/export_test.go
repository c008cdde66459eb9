package sqlstore

// Exec runs raw SQL, for tests that play an attacker with direct database access.
func (db *DB) Exec(sql string, args ...any) error { return db.gorm.Exec(sql, args...).Error }
