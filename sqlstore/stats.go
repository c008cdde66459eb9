package sqlstore

import "database/sql"

// Stats returns the statistics of the database's connection pool (open, in use and idle
// connections, waits for a free one), for the server's metrics. It is the zero value when
// the pool cannot be reached.
func (db *DB) Stats() sql.DBStats {
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return sql.DBStats{}
	}
	return sqlDB.Stats()
}
