package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
)

// Reconcile is the reconciler's storage: leadership, what is due, and run records.
type Reconcile struct{ db *DB }

// Reconcile returns the reconciler's storage.
func (db *DB) Reconcile() Reconcile { return Reconcile{db} }

var _ reconcile.Store = Reconcile{}

// LockKey is the advisory lock of this database's reconciler leader. Advisory locks
// are server-wide, so the key is derived from the database and schema: two orgscim
// deployments (or test schemas) on one PostgreSQL server each have their own leader.
func (s Reconcile) LockKey(ctx context.Context) (int64, error) {
	return s.db.lockKey(ctx, "orgscim reconciler")
}

// lockKey is the advisory lock named name of this database and schema. It sends no
// statement (the scope was read when the database was opened), so that a transaction
// may name a lock without asking the pool for a second connection: with every
// connection held by such transactions, that ask would wait forever.
func (db *DB) lockKey(_ context.Context, name string) (int64, error) {
	h := fnv.New64a()
	h.Write([]byte(name + "\x00" + db.lockScope))
	return int64(h.Sum64()), nil
}

// readLockScope reads the database and schema that name this deployment's advisory
// locks (PostgreSQL's are server-wide).
func (db *DB) readLockScope(ctx context.Context) error {
	var d, schema string
	if err := db.gorm.WithContext(ctx).Raw("SELECT current_database(), current_schema()").Row().Scan(&d, &schema); err != nil {
		return err
	}
	db.lockScope = d + "\x00" + schema
	return nil
}

// leadership is a PostgreSQL advisory lock held on a connection of its own, so that it
// is held exactly as long as that connection lives: if the connection drops, the lock
// is gone, and Check says so before the next batch.
type leadership struct {
	conn  *sql.Conn
	key   int64
	local *sync.Mutex // the lock on SQLite, which one process owns
	what  string
}

func (l *leadership) Check(ctx context.Context) error {
	if l.local != nil {
		return nil
	}
	var held bool
	err := l.conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
		AND pid = pg_backend_pid() AND granted AND (classid::bigint << 32 | objid::bigint) = $1)`, l.key).Scan(&held)
	if err != nil {
		return orgscim.Errorf(orgscim.Conflict, "the %s lost its lock: %v", l.what, err)
	}
	if !held {
		return orgscim.Errorf(orgscim.Conflict, "the %s lost its lock", l.what)
	}
	return nil
}

func (l *leadership) Release() {
	if l.local != nil {
		l.local.Unlock()
		return
	}
	_, _ = l.conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", l.key)
	_ = l.conn.Close()
}

// Lead makes this process the reconciler's leader, or fails with Conflict when another
// holds the lock. On SQLite, which one process owns, the lock is the process's.
func (s Reconcile) Lead(ctx context.Context) (reconcile.Leadership, error) {
	return s.db.lead(ctx, "orgscim reconciler", &s.db.reconciling, "reconciler")
}

// lead takes the advisory lock named name on a connection of its own (local on
// SQLite), or fails with Conflict when another process holds it.
func (db *DB) lead(ctx context.Context, name string, local *sync.Mutex, what string) (*leadership, error) {
	if db.dialect.name != postgresDialect.name {
		if !local.TryLock() {
			return nil, orgscim.Errorf(orgscim.Conflict, "another %s is running", what)
		}
		return &leadership{local: local, what: what}, nil
	}
	key, err := db.lockKey(ctx, name)
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.gorm.DB()
	if err != nil {
		return nil, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		conn.Close()
		return nil, err
	}
	if !got {
		conn.Close()
		return nil, orgscim.Errorf(orgscim.Conflict, "another %s is running", what)
	}
	return &leadership{conn: conn, key: key, what: what}, nil
}

// ExpiredGrants returns up to limit live grants in scope that expired by at, soonest
// first.
func (s Reconcile) ExpiredGrants(ctx context.Context, at time.Time, sc reconcile.Scope, limit int) ([]*orgs.Grant, error) {
	where, args := scopeSQL("connection_id", sc)
	return s.grants(ctx, `SELECT * FROM grants WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?`+where+`
		ORDER BY expires_at, id LIMIT ?`, append(append([]any{micros(at)}, args...), limit)...)
}

func (s Reconcile) grants(ctx context.Context, query string, args ...any) ([]*orgs.Grant, error) {
	var rows []grantRow
	if err := s.db.q(ctx).Raw(query, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgs.Grant, len(rows))
	for i, r := range rows {
		out[i] = r.grant()
	}
	return out, nil
}

// scopeSQL is the condition that keeps a query on col (a connection id) within sc.
func scopeSQL(col string, sc reconcile.Scope) (string, []any) {
	var where string
	var args []any
	if sc.Only != nil {
		if len(sc.Only) == 0 {
			return " AND 1 = 0", nil
		}
		where += " AND " + col + " IN ?"
		args = append(args, sc.Only)
	}
	if len(sc.Except) > 0 {
		where += " AND (" + col + " IS NULL OR " + col + " NOT IN ?)"
		args = append(args, sc.Except)
	}
	return where, args
}

// RevokeGrantIDs revokes those of the grants that are still live and returns their ids:
// a grant revoked meanwhile, or by an earlier attempt of the same pass, is left alone.
func (s Reconcile) RevokeGrantIDs(ctx context.Context, ids []string, at time.Time, by, reason string) ([]string, error) {
	var out []string
	err := s.db.q(ctx).Raw(`UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
		WHERE id IN ? AND revoked_at IS NULL RETURNING id`, micros(at), by, reason, ids).Scan(&out).Error
	return out, err
}

// ExpiredDelegations returns up to limit live delegations that expired by at; of those
// expiring together, roots first, so that one revocation takes its tree with it.
func (s Reconcile) ExpiredDelegations(ctx context.Context, at time.Time, limit int) ([]*orgs.Delegation, error) {
	var rows []delegationRow
	err := s.db.q(ctx).Raw("SELECT "+delegationCols+` FROM delegations
		WHERE revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?
		ORDER BY expires_at, CASE WHEN parent_id IS NULL THEN 0 ELSE 1 END, id LIMIT ?`,
		micros(at), limit).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	return delegations(rows)
}

// RevokeDelegationTree revokes a delegation and what was delegated through it.
func (s Reconcile) RevokeDelegationTree(ctx context.Context, id string, at time.Time, by, reason string) ([]*orgs.Delegation, error) {
	return delegationStore{s.db}.RevokeDelegationTree(ctx, id, at, by, reason)
}

// StartRun records a pass that has begun.
func (s Reconcile) StartRun(ctx context.Context, r *reconcile.Run) error {
	return s.db.q(ctx).Exec("INSERT INTO reconcile_runs (id, kind, approves, started_at, as_of, state) VALUES (?, ?, ?, ?, ?, ?)",
		r.ID, r.Kind, nullable(r.Approves), micros(r.Started), micros(r.AsOf), r.State).Error
}

// FinishRun records how a pass ended and its report.
func (s Reconcile) FinishRun(ctx context.Context, r *reconcile.Run) error {
	report, err := r.ReportJSON()
	if err != nil {
		return err
	}
	return s.db.q(ctx).Exec("UPDATE reconcile_runs SET finished_at = ?, state = ?, report = ? WHERE id = ?",
		microsPtr(r.Finished), r.State, report, r.ID).Error
}

// Run returns a recorded pass.
func (s Reconcile) Run(ctx context.Context, id string) (*reconcile.Run, error) {
	var row struct {
		ID         string
		Kind       string
		Approves   *string
		StartedAt  int64
		FinishedAt *int64
		AsOf       int64
		State      string
		Report     string
	}
	err := s.db.q(ctx).Raw("SELECT id, kind, approves, started_at, finished_at, as_of, state, report FROM reconcile_runs WHERE id = ?", id).Take(&row).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "no reconciler run %q", id)
	}
	if err != nil {
		return nil, err
	}
	r := &reconcile.Run{ID: row.ID, Kind: row.Kind, Approves: deref(row.Approves), Started: fromMicros(row.StartedAt), Finished: fromMicrosPtr(row.FinishedAt),
		AsOf: fromMicros(row.AsOf), State: row.State}
	if err := r.SetReportJSON(row.Report); err != nil {
		return nil, fmt.Errorf("sqlstore: run %s: %w", id, err)
	}
	return r, nil
}

// EndedOrgs returns the orgs whose relationship is over — status ended, or contract end
// plus grace passed by at — whose subtree still has live grants, live delegations,
// active connections or usable tokens: what offboarding has left to do.
func (s Reconcile) EndedOrgs(ctx context.Context, at time.Time) ([]*orgs.Org, error) {
	var rows []orgRow
	err := s.db.q(ctx).Raw(`SELECT `+orgCols+` FROM orgs o
		WHERE (o.status = 'ended' OR (o.contract_end IS NOT NULL AND o.contract_end + o.grace_seconds * 1000000 <= ?))
		  AND (EXISTS (SELECT 1 FROM grants g JOIN orgs x ON x.id = g.org_id
		               WHERE g.revoked_at IS NULL AND x.path LIKE o.path || '%')
		    OR EXISTS (SELECT 1 FROM delegations d JOIN orgs x ON x.id = d.org_id
		               WHERE d.revoked_at IS NULL AND x.path LIKE o.path || '%')
		    OR EXISTS (SELECT 1 FROM connections c JOIN orgs x ON x.id = c.org_id
		               WHERE x.path LIKE o.path || '%'
		                 AND (c.status IN ('active', 'pending') OR EXISTS (SELECT 1 FROM tokens t WHERE t.connection_id = c.id AND t.revoked_at IS NULL))))
		ORDER BY o.path`, micros(at)).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*orgs.Org, len(rows))
	for i, r := range rows {
		out[i] = r.org()
	}
	return out, nil
}

// LiveGrantsUnder returns up to limit live grants in scope on the orgs of the subtree
// at path.
func (s Reconcile) LiveGrantsUnder(ctx context.Context, path string, sc reconcile.Scope, limit int) ([]*orgs.Grant, error) {
	where, args := scopeSQL("g.connection_id", sc)
	return s.grants(ctx, `SELECT g.* FROM grants g JOIN orgs o ON o.id = g.org_id
		WHERE g.revoked_at IS NULL AND o.path LIKE ? ESCAPE '\'`+where+` ORDER BY g.id LIMIT ?`,
		append(append([]any{likePrefix(path)}, args...), limit)...)
}

// LiveDelegationsUnder returns up to limit live delegations on the orgs of the subtree
// at path, those nearest the root of the tree first, so that one revocation takes the
// delegations made through it along.
func (s Reconcile) LiveDelegationsUnder(ctx context.Context, path string, limit int) ([]*orgs.Delegation, error) {
	var rows []delegationRow
	err := s.db.q(ctx).Raw("SELECT "+aliased("d.", "", delegationCols)+` FROM delegations d JOIN orgs o ON o.id = d.org_id
		WHERE d.revoked_at IS NULL AND o.path LIKE ? ESCAPE '\'
		ORDER BY length(o.path), CASE WHEN d.parent_id IS NULL THEN 0 ELSE 1 END, d.id LIMIT ?`, likePrefix(path), limit).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	return delegations(rows)
}

// ShutConnectionsUnder suspends the active and pending connections of the subtree at path and
// revokes their usable tokens, returning what it changed per connection id.
func (s Reconcile) ShutConnectionsUnder(ctx context.Context, path string, sc reconcile.Scope, at time.Time) (map[string]reconcile.Shut, error) {
	var conns []struct {
		ID     string
		Status string
	}
	err := s.db.q(ctx).Raw(`SELECT c.id, c.status FROM connections c JOIN orgs o ON o.id = c.org_id
		WHERE o.path LIKE ? ESCAPE '\' ORDER BY c.id`, likePrefix(path)).Scan(&conns).Error
	if err != nil {
		return nil, err
	}
	out := map[string]reconcile.Shut{}
	for _, c := range conns {
		if !sc.Includes(c.ID) {
			continue
		}
		var shut reconcile.Shut
		if c.Status == "active" || c.Status == orgs.ConnectionPending {
			if err := s.db.q(ctx).Exec("UPDATE connections SET status = 'suspended' WHERE id = ? AND status = ?", c.ID, c.Status).Error; err != nil {
				return nil, err
			}
			shut.Suspended, shut.From = true, c.Status
		}
		if err := s.db.q(ctx).Raw("UPDATE tokens SET revoked_at = ? WHERE connection_id = ? AND revoked_at IS NULL RETURNING id",
			micros(at), c.ID).Scan(&shut.Tokens).Error; err != nil {
			return nil, err
		}
		if shut.Suspended || len(shut.Tokens) > 0 {
			out[c.ID] = shut
		}
	}
	return out, nil
}

// RunStats counts the recorded passes by state, with the end of the latest of each.
func (s Reconcile) RunStats(ctx context.Context) (map[string]reconcile.RunStat, error) {
	var rows []struct {
		State  string
		N      int64
		Latest *int64
	}
	err := s.db.q(ctx).Raw("SELECT state, count(*) AS n, max(finished_at) AS latest FROM reconcile_runs GROUP BY state").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := map[string]reconcile.RunStat{}
	for _, r := range rows {
		st := reconcile.RunStat{Count: r.N}
		if r.Latest != nil {
			st.LatestFinish = fromMicros(*r.Latest)
		}
		out[r.State] = st
	}
	return out, nil
}
