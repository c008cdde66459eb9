package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/ssf"
	"gorm.io/gorm"
)

// ssfStream is a stream that is not disabled, as the write path sees it (read by
// placeEvents with the webhook subscriptions, in the same statement).
type ssfStream struct {
	id     string
	conn   string // "": every tenant's events
	events []string
}

type ssfStreams []ssfStream

// enqueue is the Shared Signals side of the transactional outbox: the SETs of the
// transaction's events, for every stream of their tenant that requested their type and
// did not remove their subject, go into w with the audit events. A SET is therefore
// queued exactly when its change commits. What a SET says of its user and tenant (the
// user's e-mail, the connection's and org's slugs) is read here, in the transaction,
// and only when some stream may take one of its events.
func (ss ssfStreams) enqueue(tx *gorm.DB, w *batchWriter, events []audit.Event) (queued bool, err error) {
	if len(ss) == 0 {
		return false, nil
	}
	type target struct {
		e       *audit.Event
		streams []*ssfStream
	}
	var targets []target
	users, conns, orgIDs, streamIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	grantIDs := map[string]bool{}
	for i := range events {
		e := &events[i]
		if !ssf.Emits(e.Action) {
			continue
		}
		var to []*ssfStream
		for j := range ss {
			if ss[j].conn == "" || ss[j].conn == e.ConnectionID {
				to = append(to, &ss[j])
				streamIDs[ss[j].id] = true
			}
		}
		if len(to) == 0 {
			continue
		}
		targets = append(targets, target{e, to})
		if u := ssf.UserOf(e); u != "" {
			users[u] = true
		}
		for _, g := range ssf.GrantsOf(e) {
			grantIDs[g] = true
		}
		if e.ConnectionID != "" {
			conns[e.ConnectionID] = true
		}
		orgIDs[e.OrgID] = true
		if e.TargetType == "org" {
			orgIDs[e.TargetID] = true
		}
	}
	if len(targets) == 0 {
		return false, nil
	}
	// The grants a bulk revocation names, whose holders and orgs are then looked up too.
	// A revocation may name 100,000 grants in one transaction (a mapping of a large
	// group retired): the lookups go a batch at a time, under both engines' limits on
	// bind parameters.
	type setGrant struct {
		ID, UserID, RoleID, OrgID, RevokeReason string
	}
	var revoked []setGrant
	for ids := keysOf(grantIDs); len(grantIDs) > 0 && len(ids) > 0; {
		n := min(len(ids), batch)
		var got []setGrant
		if err := tx.Raw(`SELECT id, user_id, role_id, org_id, COALESCE(revoke_reason, '') AS revoke_reason FROM grants WHERE id IN ?`,
			ids[:n]).Scan(&got).Error; err != nil {
			return false, fmt.Errorf("sqlstore: SET grants: %w", err)
		}
		revoked, ids = append(revoked, got...), ids[n:]
	}
	grantByID := make(map[string]setGrant, len(revoked))
	for _, g := range revoked {
		users[g.UserID], orgIDs[g.OrgID] = true, true
		grantByID[g.ID] = g
	}
	var rows []struct {
		Kind, ID, Name, Email string
	}
	err = tx.Raw(`SELECT 'c' AS kind, id, slug AS name, '' AS email FROM connections WHERE id IN ?
		UNION ALL SELECT 'o', id, slug, '' FROM orgs WHERE id IN ?
		UNION ALL SELECT 'r', stream_id, subject_key, '' FROM ssf_subjects WHERE stream_id IN ?`,
		keysOf(conns), keysOf(orgIDs), keysOf(streamIDs)).Scan(&rows).Error
	if err != nil {
		return false, fmt.Errorf("sqlstore: SET subjects: %w", err)
	}
	for ids := keysOf(users); len(ids) > 0; {
		n := min(len(ids), batch)
		var got []struct {
			Kind, ID, Name, Email string
		}
		if err := tx.Raw(`SELECT 'u' AS kind, id, user_name AS name, COALESCE(email, '') AS email FROM scim_users WHERE id IN ?
			UNION ALL SELECT 's', id, name, '' FROM service_accounts WHERE id IN ?`, ids[:n], ids[:n]).Scan(&got).Error; err != nil {
			return false, fmt.Errorf("sqlstore: SET subjects: %w", err)
		}
		rows, ids = append(rows, got...), ids[n:]
	}
	type person struct{ name, email, account string }
	people, slugs, removed := map[string]person{}, map[string]string{}, map[string]bool{}
	for _, r := range rows {
		switch r.Kind {
		case "u":
			people[r.ID] = person{name: r.Name, email: r.Email}
		case "s":
			people[r.ID] = person{account: r.Name}
		case "c", "o":
			slugs[r.Kind+r.ID] = r.Name
		case "r":
			removed[r.ID+" "+r.Name] = true
		}
	}
	now := micros(time.Now())
	for _, t := range targets {
		e := t.e
		uid := ssf.UserOf(e)
		org := e.OrgID
		if e.TargetType == "org" {
			org = e.TargetID
		}
		f := ssf.Facts{UserID: uid, UserName: people[uid].name, Email: people[uid].email, ServiceAccount: people[uid].account,
			ConnectionSlug: slugs["c"+e.ConnectionID], OrgSlug: slugs["o"+org]}
		if ids := ssf.GrantsOf(e); len(ids) > 0 {
			for _, id := range ids {
				g, ok := grantByID[id]
				if !ok {
					continue
				}
				h := people[g.UserID]
				f.Revoked = append(f.Revoked, ssf.RevokedGrant{ID: g.ID, RoleID: g.RoleID, OrgSlug: slugs["o"+g.OrgID],
					Reason: g.RevokeReason, Holder: ssf.Facts{UserID: g.UserID, UserName: h.name, Email: h.email, ServiceAccount: h.account}})
			}
		}
		// ord keeps a subject's SETs in event order: 8 slots per event. A bulk revocation
		// gives more SETs than that; past the 8th they share the last slot (jti breaks the
		// tie), which is harmless, for they are about distinct grants.
		for k, set := range ssf.SETs(e, f) {
			claims := encodeClaims(set.Claims)
		streams:
			for _, st := range t.streams {
				if !ssf.Requested(st.events, set.Type) {
					continue
				}
				for _, key := range set.Keys {
					if removed[st.id+" "+key] {
						continue streams
					}
				}
				w.add(`INSERT INTO ssf_outbox (id, stream_id, jti, chain, subject, ord, event_type, claims, requested_at,
				created_at, next_attempt_at) VALUES `, 11,
					provisioning.NewID(), st.id, e.ID+"-"+set.Suffix, e.Chain, set.Subject, e.Seq*8+int64(min(k, 7)), set.Type, claims,
					micros(e.Time), now, 0)
				queued = true
			}
		}
	}
	return queued, nil
}

func encodeClaims(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // strings, numbers and maps of them always marshal
	}
	return strings.TrimRight(buf.String(), "\n")
}

// SSF is the store of the Shared Signals transmitter: receivers, streams, removed
// subjects and queued SETs.
type SSF struct{ db *DB }

// SSF returns the Shared Signals store.
func (db *DB) SSF() SSF { return SSF{db} }

var (
	_ ssf.Store  = SSF{}
	_ ssf.Outbox = SSF{}
)

// CreateReceiver stores r; NotFound when its connection does not exist.
func (s SSF) CreateReceiver(ctx context.Context, r *ssf.Receiver) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		if r.ConnectionID != "" {
			var n int64
			if err := tx.Raw("SELECT count(*) FROM connections WHERE id = ?", r.ConnectionID).Scan(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return orgscim.Errorf(orgscim.NotFound, "no such connection")
			}
		}
		return tx.Exec(`INSERT INTO ssf_receivers (id, name, audience, connection_id, token_hash, state, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Name, r.Audience, nullable(r.ConnectionID), r.TokenHash, r.State,
			micros(r.Created)).Error
	})
}

type receiverRow struct {
	ID, Name, Audience string
	ConnectionID       *string
	ConnectionSlug     string
	State              string
	CreatedAt          int64
	RevokedAt          *int64
	Streams            int
}

func (r receiverRow) receiver() ssf.Receiver {
	out := ssf.Receiver{ID: r.ID, Name: r.Name, Audience: r.Audience, ConnectionSlug: r.ConnectionSlug, State: r.State,
		Created: fromMicros(r.CreatedAt), Revoked: fromMicrosPtr(r.RevokedAt), Streams: r.Streams}
	if r.ConnectionID != nil {
		out.ConnectionID = *r.ConnectionID
	}
	return out
}

const receiverSelect = `SELECT r.id, r.name, r.audience, r.connection_id, COALESCE(c.slug, '') AS connection_slug, r.state,
	r.created_at, r.revoked_at, (SELECT count(*) FROM ssf_streams s WHERE s.receiver_id = r.id AND s.deleted_at IS NULL) AS streams
	FROM ssf_receivers r LEFT JOIN connections c ON c.id = r.connection_id`

// Receivers lists every receiver, oldest first.
func (s SSF) Receivers(ctx context.Context) ([]ssf.Receiver, error) {
	var rows []receiverRow
	if err := s.db.q(ctx).Raw(receiverSelect + " ORDER BY r.created_at, r.id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]ssf.Receiver, len(rows))
	for i, r := range rows {
		out[i] = r.receiver()
	}
	return out, nil
}

// RevokeReceiver revokes the receiver, disables its streams and gives up their queued
// SETs, and returns the receiver as it was and the streams it stopped (those that were
// enabled or paused), as they were.
func (s SSF) RevokeReceiver(ctx context.Context, id string, at time.Time) (*ssf.Receiver, []ssf.Stream, error) {
	var (
		out     *ssf.Receiver
		stopped []ssf.Stream
	)
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var rows []receiverRow
		if err := tx.Raw(receiverSelect+" WHERE r.id = ?", id).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no SSF receiver %q", id)
		}
		r := rows[0].receiver()
		out = &r
		if r.State == ssf.ReceiverRevoked {
			return nil
		}
		var streams []streamRow
		if err := tx.Raw("SELECT "+streamCols+` FROM ssf_streams WHERE receiver_id = ? AND deleted_at IS NULL
			AND status <> 'disabled' ORDER BY created_at, id`, id).Scan(&streams).Error; err != nil {
			return err
		}
		for _, st := range streams {
			stopped = append(stopped, st.stream())
		}
		if err := tx.Exec("UPDATE ssf_receivers SET state = 'revoked', revoked_at = ? WHERE id = ?", micros(at), id).Error; err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE ssf_streams SET status = 'disabled', reason = 'receiver revoked', updated_at = ?
			WHERE receiver_id = ?`, micros(at), id).Error; err != nil {
			return err
		}
		return tx.Exec(`UPDATE ssf_outbox SET state = 'dead', last_error = 'receiver revoked', lease = ''
			WHERE state = 'pending' AND stream_id IN (SELECT id FROM ssf_streams WHERE receiver_id = ?)`, id).Error
	})
	return out, stopped, err
}

// ReceiverByToken finds the active receiver whose token hashes to hash.
func (s SSF) ReceiverByToken(ctx context.Context, hash string) (*ssf.Receiver, error) {
	var rows []receiverRow
	if err := s.db.q(ctx).Raw(receiverSelect+" WHERE r.token_hash = ? AND r.state = 'active'", hash).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgscim.Errorf(orgscim.NotFound, "no such receiver")
	}
	r := rows[0].receiver()
	return &r, nil
}

type streamRow struct {
	ID, ReceiverID      string
	ConnectionID        *string
	Description         string
	EventsRequested     string
	DeliveryMethod      string
	EndpointURL         string
	AuthorizationHeader string
	Status, Reason      string
	CreatedAt           int64
	UpdatedAt           int64
}

func (r streamRow) stream() ssf.Stream {
	st := ssf.Stream{ID: r.ID, ReceiverID: r.ReceiverID, Description: r.Description,
		EventsRequested: strings.Fields(r.EventsRequested), Method: r.DeliveryMethod, EndpointURL: r.EndpointURL,
		AuthorizationHeader: r.AuthorizationHeader, Status: r.Status, Reason: r.Reason,
		Created: fromMicros(r.CreatedAt), Updated: fromMicros(r.UpdatedAt)}
	if r.ConnectionID != nil {
		st.ConnectionID = *r.ConnectionID
	}
	return st
}

const streamCols = `id, receiver_id, connection_id, description, events_requested, delivery_method, endpoint_url,
	authorization_header, status, reason, created_at, updated_at`

// CreateStream stores st, unless its receiver has max streams already (Conflict).
func (s SSF) CreateStream(ctx context.Context, st *ssf.Stream, max int) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Raw("SELECT count(*) FROM ssf_streams WHERE receiver_id = ? AND deleted_at IS NULL", st.ReceiverID).Scan(&n).Error; err != nil {
			return err
		}
		if n >= int64(max) {
			return orgscim.Errorf(orgscim.Conflict, "a receiver has at most %d streams; delete one first", max)
		}
		return tx.Exec("INSERT INTO ssf_streams ("+streamCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			st.ID, st.ReceiverID, nullable(st.ConnectionID), st.Description, strings.Join(st.EventsRequested, " "),
			st.Method, st.EndpointURL, st.AuthorizationHeader, st.Status, st.Reason, micros(st.Created), micros(st.Updated)).Error
	})
}

// Streams lists a receiver's streams, oldest first.
func (s SSF) Streams(ctx context.Context, receiverID string) ([]ssf.Stream, error) {
	var rows []streamRow
	if err := s.db.q(ctx).Raw("SELECT "+streamCols+" FROM ssf_streams WHERE receiver_id = ? AND deleted_at IS NULL ORDER BY created_at, id",
		receiverID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]ssf.Stream, len(rows))
	for i, r := range rows {
		out[i] = r.stream()
	}
	return out, nil
}

// UpdateStream reads the receiver's stream and, with fn, changes it in one transaction.
// A paused stream that is enabled again sends what it held; a disabled one gives up its
// queued SETs (SSF 1.0 §8.1.2).
func (s SSF) UpdateStream(ctx context.Context, receiverID, id string, fn func(*ssf.Stream) error) (*ssf.Stream, error) {
	var out *ssf.Stream
	read := func(tx *gorm.DB) error {
		lock := ""
		if fn != nil && s.db.dialect.name == postgresDialect.name {
			lock = " FOR UPDATE"
		}
		var rows []streamRow
		if err := tx.Raw("SELECT "+streamCols+" FROM ssf_streams WHERE id = ? AND receiver_id = ? AND deleted_at IS NULL"+lock, id, receiverID).
			Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no stream %q", id)
		}
		st := rows[0].stream()
		out = &st
		return nil
	}
	if fn == nil {
		if err := read(s.db.q(ctx)); err != nil {
			return nil, err
		}
		return out, nil
	}
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		if err := read(tx); err != nil {
			return err
		}
		if err := fn(out); err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE ssf_streams SET description = ?, events_requested = ?, delivery_method = ?, endpoint_url = ?,
			authorization_header = ?, status = ?, reason = ?, updated_at = ? WHERE id = ?`,
			out.Description, strings.Join(out.EventsRequested, " "), out.Method, out.EndpointURL, out.AuthorizationHeader,
			out.Status, out.Reason, micros(out.Updated), out.ID).Error; err != nil {
			return err
		}
		if out.Status == ssf.Disabled {
			return tx.Exec(`UPDATE ssf_outbox SET state = 'dead', last_error = 'stream disabled', lease = ''
				WHERE stream_id = ? AND state = 'pending'`, out.ID).Error
		}
		if out.Status == ssf.Enabled {
			// A stream resumed from paused sends what it held at once, not at the tick.
			return s.db.notifySSF(tx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Status == ssf.Enabled {
		s.db.wakeSSFAfterCommit(ctx)
	}
	return out, nil
}

// DeleteStream deletes the receiver's stream: it is disabled and marked deleted, and its
// removed subjects and SETs are deleted. The row stays, so that a change committing
// meanwhile that queues a SET for it does not fail; such a SET is never sent.
func (s SSF) DeleteStream(ctx context.Context, receiverID, id string) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE ssf_streams SET status = 'disabled', reason = 'deleted', deleted_at = ?, updated_at = ?
			WHERE id = ? AND receiver_id = ? AND deleted_at IS NULL`, micros(time.Now()), micros(time.Now()), id, receiverID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgscim.Errorf(orgscim.NotFound, "no stream %q", id)
		}
		for _, q := range []string{"DELETE FROM ssf_outbox WHERE stream_id = ?", "DELETE FROM ssf_subjects WHERE stream_id = ?"} {
			if err := tx.Exec(q, id).Error; err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveSubject records that the stream takes no SETs about key.
func (s SSF) RemoveSubject(ctx context.Context, streamID, key, subject string, at time.Time) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM ssf_subjects WHERE stream_id = ? AND subject_key = ?", streamID, key).Error; err != nil {
			return err
		}
		return tx.Exec("INSERT INTO ssf_subjects (stream_id, subject_key, subject, created_at) VALUES (?, ?, ?, ?)",
			streamID, key, subject, micros(at)).Error
	})
}

// AddSubject undoes RemoveSubject.
func (s SSF) AddSubject(ctx context.Context, streamID, key string) error {
	return s.db.q(ctx).Exec("DELETE FROM ssf_subjects WHERE stream_id = ? AND subject_key = ?", streamID, key).Error
}

// QueueSET queues a SET that no audit event carries, after the stream's others.
func (s SSF) QueueSET(ctx context.Context, streamID, jti, typ string, claims []byte, at time.Time) error {
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO ssf_outbox (id, stream_id, jti, chain, subject, ord, event_type, claims, requested_at, created_at, next_attempt_at)
			SELECT ?, ?, ?, ?, ?, COALESCE(MAX(ord), 0) + 1, ?, ?, ?, ?, 0 FROM ssf_outbox WHERE stream_id = ?`,
			provisioning.NewID(), streamID, jti, audit.Control, "stream:"+streamID, typ, string(claims), micros(at), micros(at), streamID).Error; err != nil {
			return err
		}
		return s.db.notifySSF(tx)
	})
	if err != nil {
		return err
	}
	s.db.wakeSSFAfterCommit(ctx)
	return nil
}

type deliveryRow struct {
	ID, StreamID, Jti, EventType, Claims, Audience, EndpointURL, AuthorizationHeader string
	Attempts                                                                         int
	RequestedAt                                                                      int64
}

func (r deliveryRow) delivery(lease string) ssf.Delivery {
	return ssf.Delivery{ID: r.ID, StreamID: r.StreamID, JTI: r.Jti, Type: r.EventType, Claims: []byte(r.Claims),
		Audience: r.Audience, EndpointURL: r.EndpointURL, AuthorizationHeader: r.AuthorizationHeader,
		Attempt: r.Attempts, Lease: lease, RequestedAt: fromMicros(r.RequestedAt)}
}

const deliveryCols = `o.id, o.stream_id, o.jti, o.event_type, o.claims, r.audience, s.endpoint_url, s.authorization_header,
	o.attempts, o.requested_at`

// ClaimPush leases up to limit due SETs of enabled push streams, each the next of its
// stream and subject: the pending one with the lowest ord. While it is leased or waiting
// for a retry, the later SETs about its subject wait behind it, which keeps what a
// receiver hears about one person in order; SETs about other subjects go out meanwhile.
// A stream-updated SET goes out whatever the stream's status: it says what that is.
// Of one stream it leases at most perStream less busy[stream] (the SETs the caller holds
// for it, in flight or waiting), so that a receiver that hangs does not have ever more
// of its SETs claimed; which ones is decided here, after ranking each stream's due SETs.
func (s SSF) ClaimPush(ctx context.Context, now time.Time, lease time.Duration, limit, perStream int,
	busy map[string]int) ([]ssf.Delivery, error) {
	lock := ""
	if s.db.dialect.name == postgresDialect.name {
		// The due conditions are repeated beside the lock, so that a row another claim
		// leased meanwhile is checked again on its committed version and left out.
		lock = " FOR UPDATE OF o SKIP LOCKED"
	}
	held := 0
	for _, n := range busy {
		held += min(n, perStream)
	}
	token := provisioning.NewID()
	var out []ssf.Delivery
	err := s.db.transaction(ctx, func(tx *gorm.DB) error {
		var cands []struct {
			ID, StreamID string
			StreamRank   int
		}
		// Ranked per stream in the order they are claimed; at most perStream of each
		// stream can be taken, and the rows a busy stream cannot take are read beyond
		// limit so that they do not crowd out other streams'.
		err := tx.Raw(`SELECT o.id, c.stream_id, c.stream_rank FROM ssf_outbox o JOIN (
				SELECT o.id, o.stream_id, o.next_attempt_at, o.ord,
					ROW_NUMBER() OVER (PARTITION BY o.stream_id ORDER BY o.next_attempt_at, o.ord, o.jti) AS stream_rank
				FROM ssf_outbox o JOIN ssf_streams s ON s.id = o.stream_id
				WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND (s.status = 'enabled' OR o.event_type = ?)
				AND s.delivery_method = ?
				AND NOT EXISTS (SELECT 1 FROM ssf_outbox p WHERE p.stream_id = o.stream_id AND p.subject = o.subject
					AND p.state = 'pending' AND (p.ord < o.ord OR (p.ord = o.ord AND p.jti < o.jti)))
			) c ON c.id = o.id
			WHERE c.stream_rank <= ? AND o.state = 'pending' AND o.next_attempt_at <= ?
			ORDER BY c.next_attempt_at, c.ord LIMIT ?`+lock,
			micros(now), ssf.StreamUpdated, ssf.PushMethod, perStream, micros(now), limit+held).Scan(&cands).Error
		if err != nil || len(cands) == 0 {
			return err
		}
		var ids []string
		for _, c := range cands {
			if c.StreamRank <= perStream-busy[c.StreamID] && len(ids) < limit {
				ids = append(ids, c.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.Exec("UPDATE ssf_outbox SET attempts = attempts + 1, next_attempt_at = ?, lease = ? WHERE id IN ?",
			micros(now.Add(lease)), token, ids).Error; err != nil {
			return err
		}
		var rows []deliveryRow
		if err := tx.Raw(`SELECT `+deliveryCols+` FROM ssf_outbox o JOIN ssf_streams s ON s.id = o.stream_id
			JOIN ssf_receivers r ON r.id = s.receiver_id WHERE o.id IN ? ORDER BY o.ord`, ids).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out = append(out, r.delivery(token))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim SETs: %w", err)
	}
	return out, nil
}

// Delivered marks ds acknowledged at at. A SET whose lease ran out meanwhile is marked
// all the same: the receiver has it.
func (s SSF) Delivered(ctx context.Context, ds []*ssf.Delivery, at time.Time) error {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return s.db.gorm.WithContext(ctx).Exec(`UPDATE ssf_outbox SET state = 'delivered', delivered_at = ?, last_error = '', lease = ''
		WHERE id IN ? AND state = 'pending'`, micros(at), ids).Error
}

// Failed records a failed attempt of d, unless a later claim took d over.
func (s SSF) Failed(ctx context.Context, d *ssf.Delivery, next time.Time, dead bool, reason string) error {
	state := "pending"
	if dead {
		state = "dead"
	}
	if len(reason) > 200 {
		reason = reason[:200]
	}
	return s.db.gorm.WithContext(ctx).Exec(`UPDATE ssf_outbox SET state = ?, next_attempt_at = ?, last_error = ?, lease = ''
		WHERE id = ? AND lease = ? AND state = 'pending'`, state, micros(next), reason, d.ID, d.Lease).Error
}

// Poll acknowledges and gives up what the receiver said, then leases up to max due SETs
// of the stream, oldest first. A returned SET that is not acknowledged is returned again
// once its lease runs out (RFC 8936 §2.4: unacknowledged SETs are redelivered).
func (s SSF) Poll(ctx context.Context, streamID string, acks []string, errs map[string]string, now time.Time,
	lease time.Duration, max int) ([]ssf.Delivery, bool, error) {
	var (
		out  []ssf.Delivery
		more bool
	)
	lock := ""
	if s.db.dialect.name == postgresDialect.name {
		lock = " FOR UPDATE OF o SKIP LOCKED"
	}
	token := provisioning.NewID()
	err := s.db.transaction(ctx, func(tx *gorm.DB) error {
		if len(acks) > 0 {
			if err := tx.Exec(`UPDATE ssf_outbox SET state = 'delivered', delivered_at = ?, lease = ''
				WHERE stream_id = ? AND jti IN ? AND state = 'pending'`, micros(now), streamID, acks).Error; err != nil {
				return err
			}
		}
		for jti, reason := range errs {
			if len(reason) > 200 {
				reason = reason[:200]
			}
			if err := tx.Exec(`UPDATE ssf_outbox SET state = 'dead', last_error = ?, lease = ''
				WHERE stream_id = ? AND jti = ? AND state = 'pending'`, reason, streamID, jti).Error; err != nil {
				return err
			}
		}
		if max == 0 {
			return nil
		}
		var ids []string
		err := tx.Raw(`SELECT o.id FROM ssf_outbox o JOIN ssf_streams s ON s.id = o.stream_id
			WHERE o.stream_id = ? AND o.state = 'pending' AND o.next_attempt_at <= ? AND s.status = 'enabled'
			ORDER BY o.ord, o.jti LIMIT ?`+lock, streamID, micros(now), max+1).Scan(&ids).Error
		if err != nil || len(ids) == 0 {
			return err
		}
		if len(ids) > max {
			ids, more = ids[:max], true
		}
		if err := tx.Exec("UPDATE ssf_outbox SET attempts = attempts + 1, next_attempt_at = ?, lease = ? WHERE id IN ?",
			micros(now.Add(lease)), token, ids).Error; err != nil {
			return err
		}
		var rows []deliveryRow
		if err := tx.Raw(`SELECT `+deliveryCols+` FROM ssf_outbox o JOIN ssf_streams s ON s.id = o.stream_id
			JOIN ssf_receivers r ON r.id = s.receiver_id WHERE o.id IN ? ORDER BY o.ord, o.jti`, ids).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out = append(out, r.delivery(token))
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: poll SETs: %w", err)
	}
	return out, more, nil
}

// PurgeSETs deletes up to limit SETs that are done (delivered, acknowledged or given
// up) and were queued before before, and says how many it deleted. Pending SETs, and
// the order of those still to come, are untouched: ordering reads pending rows only.
func (s SSF) PurgeSETs(ctx context.Context, before time.Time, limit int) (int, error) {
	res := s.db.gorm.WithContext(ctx).Exec(`DELETE FROM ssf_outbox WHERE id IN (SELECT id FROM ssf_outbox
		WHERE state <> 'pending' AND created_at < ? LIMIT ?)`, micros(before), limit)
	if res.Error != nil {
		return 0, fmt.Errorf("sqlstore: purge SETs: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

// LastVerification is when the stream's latest verification SET was queued; zero if
// none was (or it was purged, long past any interval).
func (s SSF) LastVerification(ctx context.Context, streamID string) (time.Time, error) {
	var at []int64
	if err := s.db.q(ctx).Raw(`SELECT COALESCE(MAX(created_at), 0) FROM ssf_outbox WHERE stream_id = ? AND event_type = ?`,
		streamID, ssf.Verification).Scan(&at).Error; err != nil {
		return time.Time{}, fmt.Errorf("sqlstore: last verification: %w", err)
	}
	if len(at) == 0 || at[0] == 0 {
		return time.Time{}, nil
	}
	return fromMicros(at[0]), nil
}
