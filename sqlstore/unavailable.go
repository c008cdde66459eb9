package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	sqlitedriver "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/orgscim/orgscim"
	"gorm.io/gorm"
)

// unavailableDialector wraps an engine's gorm dialector so that every error gorm
// reports passes through Translate (with Config.TranslateError): a refused, closed or
// lost connection comes out marked with orgscim.ErrUnavailable, whichever store method
// met it, at the start of a transaction, in a statement or at its commit.
type unavailableDialector struct{ gorm.Dialector }

// Translate marks connection failures and leaves every other error as the engine
// reported it (unique violations included, which isUniqueViolation reads).
func (d unavailableDialector) Translate(err error) error { return markUnavailable(err) }

// SavePoint and RollbackTo pass on what gorm asks of the engine's dialector for nested
// transactions, which embedding alone would hide from gorm's interface check.
func (d unavailableDialector) SavePoint(tx *gorm.DB, name string) error {
	sp, ok := d.Dialector.(gorm.SavePointerDialectorInterface)
	if !ok {
		return gorm.ErrUnsupportedDriver
	}
	return sp.SavePoint(tx, name)
}

func (d unavailableDialector) RollbackTo(tx *gorm.DB, name string) error {
	sp, ok := d.Dialector.(gorm.SavePointerDialectorInterface)
	if !ok {
		return gorm.ErrUnsupportedDriver
	}
	return sp.RollbackTo(tx, name)
}

// markUnavailable wraps err with orgscim.ErrUnavailable when it says the database cannot
// be reached.
func markUnavailable(err error) error {
	if err == nil || errors.Is(err, orgscim.ErrUnavailable) || !connectionFailed(err) {
		return err
	}
	return fmt.Errorf("%w: %w", orgscim.ErrUnavailable, err)
}

// connectionFailed recognises the errors of a database that cannot be reached, on
// either engine. A request's own deadline or cancellation is not one: the server
// answers those itself.
func connectionFailed(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var connect *pgconn.ConnectError
	var op *net.OpError
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &connect) || errors.As(err, &op) || pgconn.SafeToRetry(err) {
		return true
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 08 is "connection exception"; 57P01-57P03 a server shutting down,
		// crashed or starting up; 53300 a server out of connections.
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" ||
			pg.Code == "57P03" || pg.Code == "53300"
	}
	// SQLite still busy or locked after busy_timeout (10 s): another writer holds the
	// file. As with a PostgreSQL out of connections, the answer is "retry later", not
	// a failure of the request. The low byte is the primary code of an extended one.
	var lite *sqlitedriver.Error
	if errors.As(err, &lite) {
		code := lite.Code() & 0xff
		return code == sqliteBusy || code == sqliteLocked
	}
	// database/sql does not export its error for a pool that was closed.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// SQLite's primary result codes for a database another connection holds.
const (
	sqliteBusy   = 5
	sqliteLocked = 6
)
