package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"gorm.io/gorm"
)

// AuditLog is the store of the audit trail. It has no method that changes or removes an
// event.
type AuditLog struct{ db *DB }

// Audit returns the audit trail.
func (db *DB) Audit() AuditLog { return AuditLog{db} }

// Record appends e to its chain in the transaction of ctx, when that transaction
// commits; outside one it appends e in a transaction of its own.
func (s AuditLog) Record(ctx context.Context, e audit.Event) error {
	e = audit.StepUp(ctx, e)
	if e.ID == "" {
		e.ID = newEventID() // now, so that a transaction's events list in the order recorded
	}
	if t, ok := ctx.Value(txKey{s.db}).(*txn); ok {
		t.events = append(t.events, e)
		return nil
	}
	return s.db.InTx(ctx, func(ctx context.Context) error { return s.Record(ctx, e) })
}

type auditRow struct {
	ID           string
	Chain        string
	Seq          int64
	At           int64
	Actor        string
	ConnectionID string
	OrgID        string
	OrgPath      string
	Action       string
	TargetType   string
	TargetID     string
	Diff         string
	RequestID    string
	ClientAddr   string
	PrevHash     string
	Hash         string
}

const auditCols = `id, chain, seq, at, actor, connection_id, org_id, org_path, action, target_type, target_id,
	diff, request_id, client_addr, prev_hash, hash`

func (r auditRow) event() audit.Event {
	e := audit.Event{
		ID: r.ID, Chain: r.Chain, Seq: r.Seq, Time: time.UnixMilli(r.At).UTC(), Actor: r.Actor,
		ConnectionID: r.ConnectionID, OrgID: r.OrgID, OrgPath: r.OrgPath, Action: r.Action,
		TargetType: r.TargetType, TargetID: r.TargetID, RequestID: r.RequestID,
		ClientAddr: r.ClientAddr, PrevHash: r.PrevHash, Hash: r.Hash,
	}
	if r.Diff != "" {
		e.Diff = json.RawMessage(r.Diff)
	}
	return e
}

// appendAudit writes the events of a transaction, as its last statements, and queues
// their webhook deliveries (see enqueue in outbox.go). Nothing here waits for another
// transaction: each event takes a number (see numberEvents) and its content hash, and
// the sealer gives it its place in the log once it has committed (auditlog.go). The
// events' orgs and the matching subscriptions are read first; on PostgreSQL the writes
// are then one statement.
func (db *DB) appendAudit(tx *gorm.DB, t *txn) error {
	events := t.events
	if len(events) == 0 {
		return nil
	}
	subs, streams, nums, err := db.placeEvents(tx, events)
	if err != nil {
		return err
	}
	if nums == nil {
		if nums, err = db.numberEvents(tx, len(events)); err != nil {
			return fmt.Errorf("sqlstore: audit event numbers: %w", err)
		}
	}
	now := time.Now()
	w := &batchWriter{}
	for i := range events {
		e := &events[i]
		if e.ID == "" {
			e.ID = newEventID()
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC().Truncate(time.Millisecond)
		e.Chain, e.Seq, e.PrevHash = audit.ChainOf(e), nums[i], ""
		e.Hash = audit.ContentHash(e)
		w.add("INSERT INTO audit_events ("+auditCols+") VALUES ", 16,
			e.ID, e.Chain, e.Seq, e.Time.UnixMilli(), e.Actor, e.ConnectionID, e.OrgID,
			e.OrgPath, e.Action, e.TargetType, e.TargetID, string(e.Diff), e.RequestID, e.ClientAddr,
			e.PrevHash, e.Hash)
		subs.enqueue(w, e)
	}
	queued, err := streams.enqueue(tx, w, events)
	if err != nil {
		return err
	}
	if queued {
		if err := db.notifySSF(tx); err != nil {
			return err
		}
		t.queuedSETs = true
	}
	if err := w.flush(db, tx); err != nil {
		return fmt.Errorf("sqlstore: append audit events: %w", err)
	}
	return nil
}

// batchWriter collects multi-row inserts into several tables and writes them: on
// PostgreSQL as one statement of data-modifying CTEs when the rows are few (the usual
// one-request transaction), otherwise as 500-row inserts, which stay under both
// engines' bind-parameter limits.
type batchWriter struct {
	tables []*batchTable
}

type batchTable struct {
	insert string
	cols   int
	n      int
	args   []any
}

func (w *batchWriter) add(insert string, cols int, values ...any) {
	for _, t := range w.tables {
		if t.insert == insert {
			t.n++
			t.args = append(t.args, values...)
			return
		}
	}
	w.tables = append(w.tables, &batchTable{insert: insert, cols: cols, n: 1, args: values})
}

func placeholders(cols, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

func (w *batchWriter) flush(db *DB, tx *gorm.DB) error {
	params := 0
	for _, t := range w.tables {
		params += len(t.args)
	}
	if db.dialect.name == postgresDialect.name && params <= 8000 {
		// $N and database/sql, not gorm, which parsed and rebuilt this text on every
		// write: the placeholders are numbered here, in order.
		var (
			sql  strings.Builder
			args []any
		)
		for i, t := range w.tables {
			if i == 0 {
				sql.WriteString("WITH ")
			} else {
				sql.WriteString(", ")
			}
			fmt.Fprintf(&sql, "w%d AS (%s", i, t.insert)
			numberedRows(&sql, len(args)+1, t.cols, t.n)
			sql.WriteString(")")
			args = append(args, t.args...)
		}
		sql.WriteString(" SELECT 1")
		_, err := db.exec(tx.Statement.Context, txPool(tx), sql.String(), args...)
		return err
	}
	for _, t := range w.tables {
		if err := insertRows(tx, t.insert, t.cols, t.n, t.args); err != nil {
			return err
		}
	}
	return nil
}

// placeEvents fills in the org of each event — the connection's when the domain named
// none — and its path, by which delegated administrators see their subtree's events; and
// returns the active webhook subscriptions and Shared Signals streams of the events'
// tenants. All are one statement, as every write pays for it: the orgs by id, the
// connections' orgs, the subscriptions and the streams (indexed lookups that find
// nothing for a tenant nobody subscribed to).
// On PostgreSQL the same statement draws the events' numbers (numberEvents' query, the
// writers' lock first), so an audited write spends one round trip here, not two; on
// SQLite the numbers are nil and drawn apart.
func (db *DB) placeEvents(tx *gorm.DB, events []audit.Event) (chainSubscriptions, ssfStreams, []int64, error) {
	conns, orgIDs, subConns := map[string]bool{}, map[string]bool{}, map[string]bool{}
	control := false
	for _, e := range events {
		if e.OrgID != "" {
			orgIDs[e.OrgID] = true
		} else if e.ConnectionID != "" {
			conns[e.ConnectionID] = true
		}
		if e.ConnectionID != "" {
			subConns[e.ConnectionID] = true
		} else {
			control = true
		}
	}
	// Fixed SQL ($N, sent through database/sql as rawsql.go's statements are): gorm
	// built this statement again on every audited write. One org, connection or
	// subscriber tenant gives the same text every time, which PostgreSQL then plans once.
	var a sqlArgs
	subsWhere := "connection_id IN " + a.list(keysOf(subConns))
	if control {
		subsWhere += " OR connection_id IS NULL"
	}
	sql := `SELECT 'o' AS kind, '' AS conn, id, path, '' AS actions, 0 AS num FROM orgs WHERE id IN ` + a.list(keysOf(orgIDs)) + `
		UNION ALL
		SELECT 'c', c.id, o.id, o.path, '', 0 FROM connections c JOIN orgs o ON o.id = c.org_id WHERE c.id IN ` + a.list(keysOf(conns)) + `
		UNION ALL
		SELECT 's', COALESCE(connection_id, ''), id, '', actions, 0 FROM webhook_subscriptions
		WHERE state = 'active' AND (` + subsWhere + `)
		UNION ALL
		SELECT 'f', COALESCE(s.connection_id, ''), s.id, '', s.events_requested, 0 FROM ssf_streams s
		WHERE s.status <> 'disabled' AND (s.connection_id IN ` + a.list(keysOf(subConns)) + ` OR s.connection_id IS NULL)`
	numbered := db.dialect.name == postgresDialect.name
	if numbered {
		key, err := db.writersKey(tx.Statement.Context)
		if err != nil {
			return nil, nil, nil, err
		}
		// The lock's row is produced before any row of the join, so the lock is held
		// before the first number is drawn (as in numberEvents).
		sql += ` UNION ALL
		SELECT 'n', '', '', '', '', n.num FROM (SELECT nextval('audit_events_seq') AS num
			FROM (SELECT pg_advisory_xact_lock_shared(` + a.add(key) + `)) l`
		// One event, the usual request, without generate_series: its generic plan counts
		// 1,000 rows for generate_series(1, $n) (the estimate without constant
		// arguments), costs three times the custom plans, and so was never chosen —
		// PostgreSQL planned this statement afresh on every write, 0.27 ms of its CPU
		// against 0.05 ms executing it (pg_stat_statements; docs/PERFORMANCE.md).
		if len(events) > 1 {
			sql += `, generate_series(1, ` + a.add(len(events)) + `)`
		}
		sql += `) n`
	}
	type placeRow struct {
		Kind, Conn, ID, Path, Actions string
		Num                           int64
	}
	var rows []placeRow
	ctx := tx.Statement.Context
	res, err := db.query(ctx, txPool(tx), sql+" ORDER BY 1, 6, 3", a.args...)
	if err == nil {
		for res.Next() {
			var r placeRow
			if err = res.Scan(&r.Kind, &r.Conn, &r.ID, &r.Path, &r.Actions, &r.Num); err != nil {
				break
			}
			rows = append(rows, r)
		}
		if err == nil {
			err = markUnavailable(res.Err())
		}
		res.Close()
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sqlstore: audit event orgs and subscriptions: %w", err)
	}
	var nums []int64
	if numbered {
		nums = make([]int64, 0, len(events))
	}
	connOrg, paths, subs := map[string]string{}, map[string]string{}, chainSubscriptions{}
	var streams ssfStreams
	for _, r := range rows {
		switch r.Kind {
		case "n":
			nums = append(nums, r.Num) // in increasing order: ORDER BY its column
			continue
		case "f":
			streams = append(streams, ssfStream{id: r.ID, conn: r.Conn, events: strings.Fields(r.Actions)})
			continue
		case "s":
			chain := audit.Control
			if r.Conn != "" {
				chain = r.Conn
			}
			subs[chain] = append(subs[chain], subscriptionFilter{r.ID, splitActions(r.Actions)})
			continue
		case "c":
			connOrg[r.Conn] = r.ID
		}
		paths[r.ID] = r.Path
	}
	if numbered && len(nums) != len(events) {
		return nil, nil, nil, fmt.Errorf("sqlstore: audit event numbers: %d for %d events", len(nums), len(events))
	}
	for i := range events {
		e := &events[i]
		if e.OrgID == "" {
			e.OrgID = connOrg[e.ConnectionID]
		}
		e.OrgPath = paths[e.OrgID]
	}
	return subs, streams, nums, nil
}

func keysOf(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	if len(out) == 0 {
		out = append(out, "") // IN () is not SQL; no id is empty
	}
	return out
}

// Heads returns the head of every per-connection chain of the events written before the
// log, and a zero head for a chain that has such events but no head (which
// verification reports).
func (s AuditLog) Heads(ctx context.Context) ([]audit.Head, error) {
	var heads []audit.Head
	err := s.db.q(ctx).Raw(`SELECT chain, seq, hash FROM audit_chains
		UNION ALL
		SELECT DISTINCT chain, 0, '' FROM audit_events e
		WHERE e.seq <= (SELECT legacy_max FROM audit_log_state)
		AND NOT EXISTS (SELECT 1 FROM audit_chains c WHERE c.chain = e.chain)
		ORDER BY 1`).Scan(&heads).Error
	return heads, err
}

// ScanChain calls fn with each event of chain written before the log, in Seq order, a
// batch at a time, so that memory does not grow with the chain.
func (s AuditLog) ScanChain(ctx context.Context, chain string, fn func(*audit.Event) error) error {
	const batch = 1000
	after := int64(-1 << 62)
	for {
		var rows []auditRow
		err := s.db.q(ctx).Raw("SELECT "+auditCols+` FROM audit_events WHERE chain = ? AND seq > ?
			AND seq <= (SELECT legacy_max FROM audit_log_state) ORDER BY seq LIMIT ?`,
			chain, after, batch).Scan(&rows).Error
		if err != nil {
			return err
		}
		for _, r := range rows {
			e := r.event()
			if err := fn(&e); err != nil {
				return err
			}
			after = r.Seq
		}
		if len(rows) < batch {
			return nil
		}
	}
}

// Events lists the events q selects, oldest first, at most q.Limit (default 100,
// at most 1,000).
func (s AuditLog) Events(ctx context.Context, q audit.Query) ([]audit.Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var (
		where []string
		args  []any
	)
	if q.OrgPath != "" {
		where, args = append(where, `org_path LIKE ? ESCAPE '\'`), append(args, likePrefix(q.OrgPath))
	}
	if q.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, q.Actor)
	}
	if q.TargetID != "" {
		where, args = append(where, "target_id = ?"), append(args, q.TargetID)
	}
	if strings.HasSuffix(q.Action, ".") {
		where, args = append(where, `action LIKE ? ESCAPE '\'`), append(args, likePrefix(q.Action))
	} else if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, q.Until.UnixMilli())
	}
	if q.After != "" {
		at, id, ok := audit.ParseCursor(q.After)
		if !ok {
			return nil, orgscim.Errorf(orgscim.Invalid, "invalid cursor")
		}
		where, args = append(where, "(at, id) > (?, ?)"), append(args, at, id)
	}
	sql := "SELECT " + auditCols + " FROM audit_events"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY at, id LIMIT ?"
	var rows []auditRow
	if err := s.db.q(ctx).Raw(sql, append(args, limit)...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]audit.Event, len(rows))
	for i, r := range rows {
		out[i] = r.event()
	}
	return out, nil
}
