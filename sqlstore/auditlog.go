package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
	"golang.org/x/mod/sumdb/tlog"
	"gorm.io/gorm"
)

// The log's commit order on PostgreSQL.
//
// A request's transaction takes its events' numbers from the sequence audit_events_seq
// at its very end, after taking the writers' advisory lock in shared mode (both in one
// statement, the lock first; see numberEvents). Shared locks do not wait for each other,
// so requests never queue here. An event with a lower number may still commit after one
// with a higher number, so the sealer must not simply seal "everything above the last
// number sealed". Before each round it takes the same advisory lock exclusively, for an
// instant: once it has it, every transaction that drew a number before has committed or
// rolled back, so every number up to the sequence's last value is settled — committed
// and visible, or never to appear. The sealer then seals committed events above the last
// number sealed and up to that horizon, in number order. Writers wait for the sealer's
// instant at most (the exclusive request queues new shared ones behind it), about a
// commit's length, once a round.
//
// This was chosen over pg_snapshot_xmin, which would need no lock at all, because the
// snapshot's xmin is the whole server's: any long transaction in any database of the
// server would hold sealing back. The advisory lock is this deployment's own.
//
// SQLite has one writer at a time: numbers come from a counter row written in the
// writer's transaction, so number order is commit order and every committed number is
// settled.

// auditLogLocks is the sealer's leadership on SQLite.
type auditLogLocks struct {
	sealing sync.Mutex
}

func (db *DB) writersKey(ctx context.Context) (int64, error) {
	return db.lockKey(ctx, "orgscim audit writers")
}

// numberEvents draws n event numbers for the transaction tx, in increasing order.
func (db *DB) numberEvents(tx *gorm.DB, n int) ([]int64, error) {
	out := make([]int64, 0, n)
	if db.dialect.name == postgresDialect.name {
		key, err := db.writersKey(tx.Statement.Context)
		if err != nil {
			return nil, err
		}
		// The lock's row is produced before any row of the join, so the lock is held
		// before the first number is drawn.
		err = tx.Raw(`SELECT nextval('audit_events_seq') FROM (SELECT pg_advisory_xact_lock_shared(?)) l,
			generate_series(1, ?) ORDER BY 1`, key, n).Scan(&out).Error
		return out, err
	}
	var last int64
	if err := tx.Raw("UPDATE audit_event_numbers SET last = last + ? WHERE id = 1 RETURNING last", n).Scan(&last).Error; err != nil {
		return nil, err
	}
	for i := range n {
		out = append(out, last-int64(n)+1+int64(i))
	}
	return out, nil
}

// LeadSealer makes this process the log's only sealer (a PostgreSQL advisory lock on a
// connection of its own, as the reconciler's), or fails with Conflict.
func (s AuditLog) LeadSealer(ctx context.Context) (audit.Leadership, error) {
	return s.db.lead(ctx, "orgscim audit sealer", &s.db.log.sealing, "audit sealer")
}

// SealerLockKey is the advisory lock the sealer's leader holds (PostgreSQL): operators
// and tests see in pg_locks which replica seals.
func (s AuditLog) SealerLockKey(ctx context.Context) (int64, error) {
	return s.db.lockKey(ctx, "orgscim audit sealer")
}

type logStateRow struct {
	Origin     string
	LegacyMax  int64
	LegacyAt   int64
	LegacyID   string
	LegacyDone bool
	SealedSeq  int64
	Size       int64
}

const logStateCols = "origin, legacy_max, legacy_at, legacy_id, legacy_done, sealed_seq, size"

func (s AuditLog) state(tx *gorm.DB, lock bool) (logStateRow, error) {
	var st logStateRow
	q := "SELECT " + logStateCols + " FROM audit_log_state WHERE id = 1"
	if lock {
		q += s.db.dialect.forUpdate
	}
	err := tx.Raw(q).Take(&st).Error
	return st, err
}

// LegacyToMigrate reports whether events written before the log wait to be sealed and
// none has been yet.
func (s AuditLog) LegacyToMigrate(ctx context.Context) (bool, error) {
	st, err := s.state(s.db.q(ctx), false)
	if err != nil {
		return false, err
	}
	return !st.LegacyDone && st.LegacyAt < 0 && st.LegacyMax > 0, nil
}

// horizon is the highest event number no open transaction can still commit.
func (s AuditLog) horizon(ctx context.Context) (int64, error) {
	if s.db.dialect.name != postgresDialect.name {
		return math.MaxInt64, nil
	}
	key, err := s.db.writersKey(ctx)
	if err != nil {
		return 0, err
	}
	var h int64
	err = s.db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", key).Error; err != nil {
			return err
		}
		return tx.Raw("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM audit_events_seq").Scan(&h).Error
	})
	return h, err
}

// Seal seals up to limit committed events: first those written before the log (in
// time order), then the others in number order up to the horizon. It stores their
// positions, the tree's new hashes, the signed checkpoint, and a delivery of the
// checkpoint to each witness subscription, in one transaction.
func (s AuditLog) Seal(ctx context.Context, limit int, sign func(audit.Checkpoint) ([]byte, string, error)) (*audit.Sealed, error) {
	horizon, err := s.horizon(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: audit horizon: %w", err)
	}
	var out *audit.Sealed
	err = s.db.transaction(ctx, func(tx *gorm.DB) error {
		st, err := s.state(tx, true)
		if err != nil {
			return err
		}
		var rows []auditRow
		if !st.LegacyDone {
			err := tx.Raw("SELECT "+auditCols+` FROM audit_events WHERE seq <= ? AND (at > ? OR (at = ? AND id > ?))
				ORDER BY at, id LIMIT ?`, st.LegacyMax, st.LegacyAt, st.LegacyAt, st.LegacyID, limit).Scan(&rows).Error
			if err != nil {
				return err
			}
			if len(rows) > 0 {
				last := rows[len(rows)-1]
				st.LegacyAt, st.LegacyID = last.At, last.ID
			}
			st.LegacyDone = len(rows) < limit
		}
		if st.LegacyDone && len(rows) < limit {
			var fresh []auditRow
			err := tx.Raw("SELECT "+auditCols+" FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
				st.SealedSeq, horizon, limit-len(rows)).Scan(&fresh).Error
			if err != nil {
				return err
			}
			if len(fresh) > 0 {
				st.SealedSeq = fresh[len(fresh)-1].Seq
			}
			rows = append(rows, fresh...)
		}
		if len(rows) == 0 {
			return tx.Exec("UPDATE audit_log_state SET legacy_done = ? WHERE id = 1", st.LegacyDone).Error
		}

		r := &treeReader{tx: tx, hashes: map[int64]tlog.Hash{}}
		var logArgs, treeArgs []any
		size := st.Size
		for i := range rows {
			e := rows[i].event()
			leaf := audit.LeafHash(&e)
			hs, err := tlog.StoredHashesForRecordHash(size, leaf, r)
			if err != nil {
				return err
			}
			base := tlog.StoredHashIndex(0, size)
			for j, h := range hs {
				r.hashes[base+int64(j)] = h
				treeArgs = append(treeArgs, base+int64(j), h[:])
			}
			logArgs = append(logArgs, size, e.ID, leaf[:])
			size++
		}
		if err := insertRows(tx, "INSERT INTO audit_log (position, event_id, leaf_hash) VALUES ", 3, len(logArgs)/3, logArgs); err != nil {
			return err
		}
		if err := insertRows(tx, "INSERT INTO audit_tree (idx, hash) VALUES ", 2, len(treeArgs)/2, treeArgs); err != nil {
			return err
		}
		root, err := tlog.TreeHash(size, r)
		if err != nil {
			return err
		}
		cp := audit.Checkpoint{Origin: st.Origin, Size: size, Root: root}
		signed, pub, err := sign(cp)
		if err != nil {
			return err
		}
		now := time.Now()
		if err := tx.Exec("INSERT INTO audit_checkpoints (size, root, note, public_key, created_at) VALUES (?, ?, ?, ?, ?)",
			size, root[:], string(signed), pub, micros(now)).Error; err != nil {
			return err
		}
		if err := s.witness(tx, cp, signed, now); err != nil {
			return err
		}
		err = tx.Exec(`UPDATE audit_log_state SET legacy_at = ?, legacy_id = ?, legacy_done = ?, sealed_seq = ?, size = ?
			WHERE id = 1`, st.LegacyAt, st.LegacyID, st.LegacyDone, st.SealedSeq, size).Error
		out = &audit.Sealed{Events: len(rows), Checkpoint: cp, Signed: signed}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: seal audit events: %w", err)
	}
	return out, nil
}

// WitnessAction is the action a webhook subscription of the control plane names to
// receive every signed checkpoint (orgscim webhook create --actions audit.checkpoint).
const WitnessAction = "audit.checkpoint"

// witness queues the checkpoint for each subscription that asked for checkpoints by
// name: the outbox signs and retries the POST like any delivery.
func (s AuditLog) witness(tx *gorm.DB, cp audit.Checkpoint, signed []byte, now time.Time) error {
	var subs []struct {
		ID      string
		Actions string
	}
	if err := tx.Raw("SELECT id, actions FROM webhook_subscriptions WHERE state = 'active' AND connection_id IS NULL").
		Scan(&subs).Error; err != nil {
		return err
	}
	id := "checkpoint:" + cp.Origin + ":" + strconv.FormatInt(cp.Size, 10)
	var payload []byte
	for _, sub := range subs {
		named := false
		for _, a := range splitActions(sub.Actions) {
			named = named || a == WitnessAction
		}
		if !named {
			continue
		}
		if payload == nil {
			payload, _ = json.Marshal(map[string]any{"id": id, "type": WitnessAction, "time": now.UTC(),
				"origin": cp.Origin, "size": cp.Size, "root": base64.StdEncoding.EncodeToString(cp.Root[:]),
				"checkpoint": string(signed)})
		}
		err := tx.Exec(`INSERT INTO outbox (id, subscription_id, event_id, chain, seq, action, revocation, payload,
			created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			provisioning.NewID(), sub.ID, id, audit.Control, cp.Size, WitnessAction, false, string(payload), micros(now), 0).Error
		if err != nil {
			return err
		}
	}
	return nil
}

// treeReader reads the tree's stored hashes: those of this transaction from memory,
// the others from audit_tree.
type treeReader struct {
	tx     *gorm.DB
	hashes map[int64]tlog.Hash
}

func (r *treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	var missing []int64
	for _, x := range indexes {
		if _, ok := r.hashes[x]; !ok {
			missing = append(missing, x)
		}
	}
	if len(missing) > 0 {
		var rows []struct {
			Idx  int64
			Hash []byte
		}
		if err := r.tx.Raw("SELECT idx, hash FROM audit_tree WHERE idx IN ?", missing).Scan(&rows).Error; err != nil {
			return nil, err
		}
		for _, row := range rows {
			var h tlog.Hash
			copy(h[:], row.Hash)
			r.hashes[row.Idx] = h
		}
	}
	return audit.HashesAt(r.hashes, indexes)
}

// LogState is where the log stands, with its latest checkpoint.
func (s AuditLog) LogState(ctx context.Context) (audit.LogState, error) {
	q := s.db.q(ctx)
	st, err := s.state(q, false)
	if err != nil {
		return audit.LogState{}, err
	}
	out := audit.LogState{Origin: st.Origin, Size: st.Size, SealedSeq: st.SealedSeq, LegacyMax: st.LegacyMax}
	var notes []string
	if err := q.Raw("SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&notes).Error; err != nil {
		return out, err
	}
	if len(notes) == 1 {
		out.Checkpoint = []byte(notes[0])
	}
	return out, nil
}

// LatestCheckpoint is the latest signed checkpoint, or NotFound before the first.
func (s AuditLog) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	st, err := s.LogState(ctx)
	if err != nil {
		return nil, err
	}
	if st.Checkpoint == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no checkpoint yet: the log is empty or not sealed yet")
	}
	return st.Checkpoint, nil
}

func scanAuditRow(rows *sql.Rows, r *auditRow, extra ...any) error {
	return rows.Scan(append([]any{&r.ID, &r.Chain, &r.Seq, &r.At, &r.Actor, &r.ConnectionID, &r.OrgID, &r.OrgPath,
		&r.Action, &r.TargetType, &r.TargetID, &r.Diff, &r.RequestID, &r.ClientAddr, &r.PrevHash, &r.Hash}, extra...)...)
}

// ScanLog streams the log in position order, with each position's event (nil when the
// event is gone), in one query: memory stays constant however long the log.
func (s AuditLog) ScanLog(ctx context.Context, fn func(int64, tlog.Hash, *audit.Event) error) error {
	nullable := "COALESCE(e.id, ''), COALESCE(e.chain, ''), COALESCE(e.seq, 0), COALESCE(e.at, 0), COALESCE(e.actor, ''), " +
		"COALESCE(e.connection_id, ''), COALESCE(e.org_id, ''), COALESCE(e.org_path, ''), COALESCE(e.action, ''), " +
		"COALESCE(e.target_type, ''), COALESCE(e.target_id, ''), COALESCE(e.diff, ''), COALESCE(e.request_id, ''), " +
		"COALESCE(e.client_addr, ''), COALESCE(e.prev_hash, ''), COALESCE(e.hash, '')"
	rows, err := s.db.q(ctx).Raw(`SELECT ` + nullable + `, l.position, l.leaf_hash, e.id IS NOT NULL
		FROM audit_log l LEFT JOIN audit_events e ON e.id = l.event_id ORDER BY l.position`).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r     auditRow
			pos   int64
			leafB []byte
			found bool
		)
		if err := scanAuditRow(rows, &r, &pos, &leafB, &found); err != nil {
			return err
		}
		var leaf tlog.Hash
		copy(leaf[:], leafB)
		var e *audit.Event
		if found {
			ev := r.event()
			e = &ev
		}
		if err := fn(pos, leaf, e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ScanPending streams the events not in the log.
func (s AuditLog) ScanPending(ctx context.Context, fn func(*audit.Event) error) error {
	rows, err := s.db.q(ctx).Raw(`SELECT ` + auditCols + ` FROM audit_events e
		WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.event_id = e.id) ORDER BY seq, id`).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r auditRow
		if err := scanAuditRow(rows, &r); err != nil {
			return err
		}
		e := r.event()
		if err := fn(&e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Proof is the inclusion proof of event id against the latest checkpoint, read from
// one snapshot. An event not sealed into a checkpoint yet is a Conflict: it will be
// within a second or so.
func (s AuditLog) Proof(ctx context.Context, id string) (*audit.InclusionProof, error) {
	var out *audit.InclusionProof
	err := s.db.Snapshot(ctx, func(ctx context.Context) error {
		q := s.db.q(ctx)
		var rows []auditRow
		if err := q.Raw("SELECT "+auditCols+" FROM audit_events WHERE id = ?", id).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no audit event %q", id)
		}
		e := rows[0].event()
		var pos []int64
		if err := q.Raw("SELECT position FROM audit_log WHERE event_id = ?", id).Scan(&pos).Error; err != nil {
			return err
		}
		var cps []struct {
			Size int64
			Note string
		}
		if err := q.Raw("SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1").Scan(&cps).Error; err != nil {
			return err
		}
		if len(pos) == 0 || len(cps) == 0 || pos[0] >= cps[0].Size {
			return orgscim.Errorf(orgscim.Conflict, "audit event %q is not sealed into a checkpoint yet; ask again in a second", id)
		}
		p, err := tlog.ProveRecord(cps[0].Size, pos[0], &treeReader{tx: q, hashes: map[int64]tlog.Hash{}})
		if err != nil {
			return err
		}
		out = &audit.InclusionProof{Event: e, Position: pos[0], TreeSize: cps[0].Size, Hashes: p,
			Checkpoint: []byte(cps[0].Note)}
		return nil
	})
	return out, err
}

// CheckpointNotes streams every stored checkpoint, oldest first.
func (s AuditLog) CheckpointNotes(ctx context.Context, fn func(size int64, note []byte, publicKey string) error) error {
	rows, err := s.db.q(ctx).Raw("SELECT size, note, public_key FROM audit_checkpoints ORDER BY size").Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			size int64
			note string
			pub  string
		)
		if err := rows.Scan(&size, &note, &pub); err != nil {
			return err
		}
		if err := fn(size, []byte(note), pub); err != nil {
			return err
		}
	}
	return rows.Err()
}

var (
	_ audit.LogReader   = AuditLog{}
	_ audit.ChainReader = AuditLog{}
)
