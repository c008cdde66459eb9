package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reviews"
	"gorm.io/gorm"
)

// Reviews is the reviews.Store of a DB: access review campaigns and their items.
func (db *DB) Reviews() reviews.Store { return reviewStore{db} }

type reviewStore struct{ db *DB }

type reviewRow struct {
	ID                 string
	OrgID              string
	Name               string
	Description        string
	CreatedBy          string
	CreatedAt          int64
	Deadline           int64
	State              string
	EndedBy            *string
	EndedAt            *int64
	Items              int64
	ExcludedMapping    int64
	Confirmed          int64
	Revoked            int64
	ExpiredUnconfirmed int64
	Kind               string
	Mappings           int64
	MappingsConfirmed  int64
	MappingsRetired    int64
}

const reviewCols = `id, org_id, name, description, created_by, created_at, deadline, state, ended_by, ended_at,
	items, excluded_mapping, confirmed, revoked, expired_unconfirmed, kind, mappings, mappings_confirmed, mappings_retired`

func (r reviewRow) review() *reviews.Review {
	return &reviews.Review{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Description: r.Description, CreatedBy: r.CreatedBy,
		Created: fromMicros(r.CreatedAt), Deadline: fromMicros(r.Deadline), State: reviews.State(r.State),
		EndedBy: deref(r.EndedBy), Ended: fromMicrosPtr(r.EndedAt), Kind: reviews.Kind(r.Kind),
		Counts: reviews.Counts{Items: int(r.Items), ExcludedMapping: int(r.ExcludedMapping), Confirmed: int(r.Confirmed),
			Revoked: int(r.Revoked), RevokedAtDeadline: int(r.ExpiredUnconfirmed), Mappings: int(r.Mappings),
			MappingsConfirmed: int(r.MappingsConfirmed), MappingsRetired: int(r.MappingsRetired)}}
}

// liveAt is the condition on grant g of being live at a time (the one argument).
const liveAt = "(g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > ?))"

// snapshotWhere selects the grants a campaign snapshots: live at a time, on the orgs of
// a subtree. Its arguments: the time twice, the subtree's LIKE pattern.
const snapshotWhere = `FROM grants g JOIN orgs o ON o.id = g.org_id
	WHERE g.revoked_at IS NULL AND g.valid_from <= ? AND (g.expires_at IS NULL OR g.expires_at > ?)
	  AND o.path LIKE ? ESCAPE '\'`

func (s reviewStore) CreateReview(ctx context.Context, r *reviews.Review, scope reviews.Scope) error {
	return s.db.tx(ctx, func(tx *gorm.DB) error {
		err := tx.Exec("INSERT INTO review_campaigns (id, org_id, name, description, created_by, created_at, deadline, state, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.OrgID, r.Name, r.Description, r.CreatedBy, micros(r.Created), micros(r.Deadline), string(r.State), string(r.Kind)).Error
		if err != nil {
			return err
		}
		at := micros(r.Created)
		var items int64
		if scope.GrantIDs != nil {
			for ids := scope.GrantIDs; len(ids) > 0; {
				n := min(len(ids), batch)
				res := tx.Exec(`INSERT INTO review_items (campaign_id, grant_id, decision) SELECT ?, g.id, 'pending' FROM grants g
					WHERE g.id IN ? AND g.revoked_at IS NULL AND g.valid_from <= ? AND (g.expires_at IS NULL OR g.expires_at > ?)`,
					r.ID, ids[:n], at, at)
				if res.Error != nil {
					return res.Error
				}
				items += res.RowsAffected
				ids = ids[n:]
			}
		} else {
			// One statement, however many grants: the snapshot never passes through Go.
			res := tx.Exec("INSERT INTO review_items (campaign_id, grant_id, decision) SELECT ?, g.id, 'pending' "+snapshotWhere,
				r.ID, at, at, likePrefix(scope.Path))
			if res.Error != nil {
				return res.Error
			}
			items = res.RowsAffected
		}
		// The mappings behind the grants: those active on the subtree, or those named.
		var res *gorm.DB
		if scope.MappingIDs != nil || scope.GrantIDs != nil {
			ids := scope.MappingIDs
			if ids == nil {
				ids = []string{}
			}
			res = tx.Exec(`INSERT INTO review_mappings (campaign_id, mapping_id) SELECT ?, m.id FROM mappings m
				WHERE m.id IN ? AND m.state = 'active'`, r.ID, ids)
		} else {
			res = tx.Exec(`INSERT INTO review_mappings (campaign_id, mapping_id) SELECT ?, m.id FROM mappings m
				JOIN orgs o ON o.id = m.org_id WHERE m.state = 'active' AND o.path LIKE ? ESCAPE '\'`, r.ID, likePrefix(scope.Path))
		}
		if res.Error != nil {
			return res.Error
		}
		r.Counts.Items, r.Counts.Mappings = int(items), int(res.RowsAffected)
		return tx.Exec("UPDATE review_campaigns SET items = ?, mappings = ? WHERE id = ?", items, res.RowsAffected, r.ID).Error
	})
}

func (s reviewStore) Review(ctx context.Context, id string, at time.Time) (*reviews.Review, error) {
	var row reviewRow
	err := s.db.q(ctx).Raw("SELECT "+reviewCols+" FROM review_campaigns WHERE id = ?", id).Take(&row).Error
	if isNoRows(err) {
		return nil, orgscim.Errorf(orgscim.NotFound, "review %q not found", id)
	}
	if err != nil {
		return nil, err
	}
	out := []*reviews.Review{row.review()}
	if !at.IsZero() {
		if err := s.undecided(ctx, out, at); err != nil {
			return nil, err
		}
	}
	return out[0], nil
}

// undecided counts the undecided items of the campaigns: Pending, whose grant is live
// at at, and Lapsed, whose grant has ended.
func (s reviewStore) undecided(ctx context.Context, rs []*reviews.Review, at time.Time) error {
	if len(rs) == 0 {
		return nil
	}
	ids := make([]string, len(rs))
	byID := map[string]*reviews.Review{}
	for i, r := range rs {
		ids[i], byID[r.ID] = r.ID, r
	}
	var rows []struct {
		CampaignID string
		Pending    int64
		Lapsed     int64
	}
	err := s.db.q(ctx).Raw(`SELECT i.campaign_id, SUM(CASE WHEN `+liveAt+` THEN 1 ELSE 0 END) AS pending,
			SUM(CASE WHEN `+liveAt+` THEN 0 ELSE 1 END) AS lapsed
		FROM review_items i JOIN grants g ON g.id = i.grant_id
		WHERE i.decision = 'pending' AND i.campaign_id IN ? GROUP BY i.campaign_id`, micros(at), micros(at), ids).Scan(&rows).Error
	if err != nil {
		return err
	}
	for _, r := range rows {
		byID[r.CampaignID].Counts.Pending, byID[r.CampaignID].Counts.Lapsed = int(r.Pending), int(r.Lapsed)
	}
	return nil
}

func (s reviewStore) Reviews(ctx context.Context, path string, above bool, state, after string, limit int, at time.Time) ([]*reviews.Review, error) {
	q, args := "SELECT "+aliased("c.", "", reviewCols)+" FROM review_campaigns c", []any{}
	var where []string
	switch {
	case path != "" && above:
		q += " JOIN orgs o ON o.id = c.org_id"
		where = append(where, `(o.path LIKE ? ESCAPE '\' OR substr(?, 1, length(o.path)) = o.path)`)
		args = append(args, likePrefix(path), path)
	case path != "":
		q += " JOIN orgs o ON o.id = c.org_id"
		where, args = append(where, `o.path LIKE ? ESCAPE '\'`), append(args, likePrefix(path))
	}
	where, args = append(where, "c.id > ?"), append(args, after)
	if state != "" {
		where, args = append(where, "c.state = ?"), append(args, state)
	}
	var rows []reviewRow
	if err := s.db.q(ctx).Raw(q+" WHERE "+strings.Join(where, " AND ")+" ORDER BY c.id LIMIT ?", append(args, limit)...).
		Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*reviews.Review, len(rows))
	for i, r := range rows {
		out[i] = r.review()
	}
	return out, s.undecided(ctx, out, at)
}

func (s reviewStore) EndReview(ctx context.Context, id string, fn func(*reviews.Review) error) (*reviews.Review, error) {
	var out *reviews.Review
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var row reviewRow
		err := tx.Raw("SELECT "+reviewCols+" FROM review_campaigns WHERE id = ?"+s.db.dialect.forUpdate, id).Take(&row).Error
		if isNoRows(err) {
			return orgscim.Errorf(orgscim.NotFound, "review %q not found", id)
		}
		if err != nil {
			return err
		}
		r := row.review()
		if err := fn(r); err != nil {
			return err
		}
		out = r
		return tx.Exec("UPDATE review_campaigns SET state = ?, ended_by = ?, ended_at = ? WHERE id = ?",
			string(r.State), nullable(r.EndedBy), microsPtr(r.Ended), id).Error
	})
	return out, err
}

// itemRow is an item with its grant.
type itemRow struct {
	G             grantRow `gorm:"embedded"`
	ItemCampaign  string
	ItemDecision  string
	ItemDecidedBy *string
	ItemDecidedAt *int64
	ItemNote      *string
}

const itemSelect = `SELECT g.*, i.campaign_id AS item_campaign, i.decision AS item_decision, i.decided_by AS item_decided_by,
	i.decided_at AS item_decided_at, i.note AS item_note
	FROM review_items i JOIN grants g ON g.id = i.grant_id`

func (r itemRow) item() *reviews.Item {
	return &reviews.Item{ReviewID: r.ItemCampaign, Grant: r.G.grant(), Decision: r.ItemDecision,
		DecidedBy: deref(r.ItemDecidedBy), Decided: fromMicrosPtr(r.ItemDecidedAt), Note: deref(r.ItemNote)}
}

func items(rows []itemRow) []*reviews.Item {
	out := make([]*reviews.Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out
}

// holders fills in the service account of each item whose grant is one's (a grant
// without a connection): one read by primary key for the page, none when every holder is
// a person. The snapshot and its statements stay as they were.
func holders(q *gorm.DB, its []*reviews.Item) ([]*reviews.Item, error) {
	var ids []string
	for _, it := range its {
		if it.Grant.ConnectionID == "" {
			ids = append(ids, it.Grant.UserID)
		}
	}
	if len(ids) == 0 {
		return its, nil
	}
	var rows []serviceAccountRow
	if err := q.Raw("SELECT "+serviceAccountCols+" FROM service_accounts WHERE id IN ?", ids).Scan(&rows).Error; err != nil {
		return nil, err
	}
	byID := map[string]*orgs.ServiceAccount{}
	for _, r := range rows {
		byID[r.ID] = r.account()
	}
	for _, it := range its {
		if it.Grant.ConnectionID == "" {
			it.ServiceAccount = byID[it.Grant.UserID]
		}
	}
	return its, nil
}

// itemsWhere is what ReviewItems lists and CountReviewItems counts: the joins after
// itemSelect's FROM and the conditions, without the cursor.
func itemsWhere(id, decision, path string, at time.Time) (string, []any) {
	q, args := "", []any{}
	if path != "" {
		q += ` JOIN orgs o ON o.id = g.org_id AND o.path LIKE ? ESCAPE '\'`
		args = append(args, likePrefix(path))
	}
	q += " WHERE i.campaign_id = ?"
	args = append(args, id)
	switch decision {
	case "":
	case reviews.ItemPending:
		q, args = q+" AND i.decision = 'pending' AND "+liveAt, append(args, micros(at))
	case reviews.ItemLapsed:
		q, args = q+" AND i.decision = 'pending' AND NOT "+liveAt, append(args, micros(at))
	default:
		q, args = q+" AND i.decision = ?", append(args, decision)
	}
	return q, args
}

func (s reviewStore) ReviewItems(ctx context.Context, id, decision, path, after string, limit int, at time.Time) ([]*reviews.Item, error) {
	where, args := itemsWhere(id, decision, path, at)
	var rows []itemRow
	if err := s.db.q(ctx).Raw(itemSelect+where+" AND i.grant_id > ? ORDER BY i.grant_id LIMIT ?", append(args, after, limit)...).
		Scan(&rows).Error; err != nil {
		return nil, err
	}
	return holders(s.db.q(ctx), items(rows))
}

func (s reviewStore) CountReviewItems(ctx context.Context, id, decision, path, after string, at time.Time) (total, before int, err error) {
	where, args := itemsWhere(id, decision, path, at)
	var n struct{ NTotal, NBefore int64 }
	err = s.db.q(ctx).Raw(`SELECT COUNT(*) AS n_total, COALESCE(SUM(CASE WHEN i.grant_id <= ? THEN 1 ELSE 0 END), 0) AS n_before
		FROM review_items i JOIN grants g ON g.id = i.grant_id`+where, append([]any{after}, args...)...).Scan(&n).Error
	return int(n.NTotal), int(n.NBefore), err
}

func (s reviewStore) DecideItem(ctx context.Context, id, grantID string, fn func(*reviews.Item) error) (*reviews.Item, error) {
	var out *reviews.Item
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var row itemRow
		err := tx.Raw(itemSelect+" WHERE i.campaign_id = ? AND i.grant_id = ?"+s.db.dialect.forUpdate, id, grantID).Take(&row).Error
		if isNoRows(err) {
			return orgscim.Errorf(orgscim.NotFound, "grant %q is not in review %q", grantID, id)
		}
		if err != nil {
			return err
		}
		its, err := holders(tx, []*reviews.Item{row.item()})
		if err != nil {
			return err
		}
		it := its[0]
		before := it.Decision
		if err := fn(it); err != nil {
			return err
		}
		out = it
		if err := tx.Exec("UPDATE review_items SET decision = ?, decided_by = ?, decided_at = ?, note = ? WHERE campaign_id = ? AND grant_id = ?",
			it.Decision, nullable(it.DecidedBy), microsPtr(it.Decided), nullable(it.Note), id, grantID).Error; err != nil {
			return err
		}
		if before == it.Decision {
			return nil
		}
		counter := map[string]string{reviews.ItemConfirmed: "confirmed", reviews.ItemRevoked: "revoked"}[it.Decision]
		if counter == "" {
			return orgscim.Errorf(orgscim.Invalid, "decision %q cannot be recorded", it.Decision)
		}
		return tx.Exec("UPDATE review_campaigns SET "+counter+" = "+counter+" + 1 WHERE id = ?", id).Error
	})
	return out, err
}

func (s reviewStore) DueReviews(ctx context.Context, at time.Time) ([]*reviews.Review, error) {
	var rows []reviewRow
	if err := s.db.q(ctx).Raw("SELECT "+reviewCols+" FROM review_campaigns WHERE state = 'open' AND deadline <= ? ORDER BY deadline, id",
		micros(at)).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*reviews.Review, len(rows))
	for i, r := range rows {
		out[i] = r.review()
	}
	return out, nil
}

func (s reviewStore) Unconfirmed(ctx context.Context, id string, at time.Time, after string, limit int) ([]*reviews.Item, error) {
	var rows []itemRow
	if err := s.db.q(ctx).Raw(itemSelect+" WHERE i.campaign_id = ? AND i.decision = 'pending' AND i.grant_id > ? AND "+liveAt+
		" ORDER BY i.grant_id LIMIT ?", id, after, micros(at), limit).Scan(&rows).Error; err != nil {
		return nil, err
	}
	return holders(s.db.q(ctx), items(rows))
}

func (s reviewStore) RevokeUnconfirmed(ctx context.Context, id string, grantIDs []string, asOf, now time.Time, by, reason string) ([]string, error) {
	var revoked []string
	if len(grantIDs) == 0 {
		return nil, nil
	}
	lo, hi := slices.Min(grantIDs), slices.Max(grantIDs)
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		// The items first: their row locks make a reviewer's decision in flight either
		// win (the item is no longer pending) or wait and find the grant revoked. The
		// range beside the list lets the planner seek the index to the batch even
		// before the new items' statistics exist, instead of filtering every pending
		// item of the review for each batch.
		err := tx.Raw(`UPDATE review_items SET decision = 'revoked', decided_by = ?, decided_at = ?, note = 'not confirmed by deadline'
			WHERE campaign_id = ? AND grant_id >= ? AND grant_id <= ? AND grant_id IN ? AND decision = 'pending'
			  AND EXISTS (SELECT 1 FROM grants g WHERE g.id = review_items.grant_id AND `+liveAt+`)
			RETURNING grant_id`, by, micros(now), id, lo, hi, grantIDs, micros(asOf)).Scan(&revoked).Error
		if err != nil || len(revoked) == 0 {
			return err
		}
		if err := tx.Exec("UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id IN ? AND revoked_at IS NULL",
			micros(now), by, reason, revoked).Error; err != nil {
			return err
		}
		// A mapping-derived grant left unconfirmed stays revoked whatever the IdP's
		// membership says: an exception against the mapping.
		if err := tx.Exec(`INSERT INTO mapping_exceptions (mapping_id, user_id, connection_id, campaign_id, created_by, created_at, reason)
			SELECT source_id, user_id, connection_id, ?, ?, ?, ? FROM grants WHERE id IN ? AND source = 'mapping'
			ON CONFLICT DO NOTHING`, id, by, micros(now), reason, revoked).Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE review_campaigns SET expired_unconfirmed = expired_unconfirmed + ? WHERE id = ?", len(revoked), id).Error
	})
	return revoked, err
}

type reviewMappingRow struct {
	CampaignID string
	Decision   string
	DecidedBy  *string
	DecidedAt  *int64
	Note       *string
	M          mappingRow `gorm:"embedded;embeddedPrefix:m_"`
}

var reviewMappingSelect = `SELECT rm.campaign_id, rm.decision, rm.decided_by, rm.decided_at, rm.note, ` +
	aliased("m.", "m_", mappingCols) + `
	FROM review_mappings rm JOIN mappings m ON m.id = rm.mapping_id`

func (r reviewMappingRow) item() *reviews.Mapping {
	return &reviews.Mapping{ReviewID: r.CampaignID, Mapping: r.M.mapping(), Decision: r.Decision, DecidedBy: deref(r.DecidedBy),
		Decided: fromMicrosPtr(r.DecidedAt), Note: deref(r.Note)}
}

func (s reviewStore) ReviewMappings(ctx context.Context, id, decision, path, after string, limit int) ([]*reviews.Mapping, error) {
	q, args := reviewMappingSelect+" WHERE rm.campaign_id = ? AND rm.mapping_id > ?", []any{id, after}
	if path != "" {
		q += ` AND m.org_id IN (SELECT o.id FROM orgs o WHERE o.path LIKE ? ESCAPE '\')`
		args = append(args, likePrefix(path))
	}
	if decision != "" {
		q += " AND rm.decision = ?"
		args = append(args, decision)
	}
	var rows []reviewMappingRow
	if err := s.db.q(ctx).Raw(q+" ORDER BY rm.mapping_id LIMIT ?", append(args, limit)...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*reviews.Mapping, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}

func (s reviewStore) DecideMapping(ctx context.Context, id, mappingID string, fn func(*reviews.Mapping) error) (*reviews.Mapping, error) {
	var out *reviews.Mapping
	err := s.db.tx(ctx, func(tx *gorm.DB) error {
		var r reviewMappingRow
		err := tx.Raw(reviewMappingSelect+" WHERE rm.campaign_id = ? AND rm.mapping_id = ?"+s.db.dialect.forUpdate, id, mappingID).Take(&r).Error
		if isNoRows(err) {
			return orgscim.Errorf(orgscim.NotFound, "mapping %q is not in review %q", mappingID, id)
		}
		if err != nil {
			return err
		}
		it := r.item()
		if err := fn(it); err != nil {
			return err
		}
		if err := tx.Exec("UPDATE review_mappings SET decision = ?, decided_by = ?, decided_at = ?, note = ? WHERE campaign_id = ? AND mapping_id = ?",
			it.Decision, it.DecidedBy, microsPtr(it.Decided), it.Note, id, mappingID).Error; err != nil {
			return err
		}
		col := "mappings_confirmed"
		if it.Decision == reviews.ItemRetired {
			col = "mappings_retired"
		}
		out = it
		return tx.Exec("UPDATE review_campaigns SET "+col+" = "+col+" + 1 WHERE id = ?", id).Error
	})
	return out, err
}
