package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// LiveGrantIDs returns up to limit ids of the live grants sel selects: of the given
// users only when users is not nil, created exactly at createdAt when it is not zero. It
// lets the orgs domain name, in the event of a bulk change of grants, the grants it
// added (those it revoked come back from the revocation itself); the partial indexes on
// live grants answer it.
func (s accessStore) LiveGrantIDs(ctx context.Context, sel orgs.GrantSelector, users []string, createdAt time.Time, limit int) ([]string, error) {
	where, args := selectorWhere(sel)
	if len(args) == 0 {
		return nil, orgscim.Errorf(orgscim.Invalid, "refusing to list every grant")
	}
	if !createdAt.IsZero() {
		where = append(where, "created_at = ?")
		args = append(args, micros(createdAt))
	}
	q := "SELECT id FROM grants WHERE " + strings.Join(where, " AND ")
	if users == nil {
		var ids []string
		err := s.db.q(ctx).Raw(q+" ORDER BY id LIMIT ?", append(args, limit)...).Scan(&ids).Error
		return ids, err
	}
	var out []string
	for len(users) > 0 && len(out) < limit {
		n := min(len(users), batch)
		var ids []string
		a := append(append([]any{}, args...), users[:n], limit-len(out))
		if err := s.db.q(ctx).Raw(q+" AND user_id IN ? ORDER BY id LIMIT ?", a...).Scan(&ids).Error; err != nil {
			return nil, err
		}
		out = append(out, ids...)
		users = users[n:]
	}
	return out, nil
}

// selectorWhere is the condition, as AND-ed terms, and the arguments of the live grants
// sel selects; no arguments means sel selects every live grant.
func selectorWhere(sel orgs.GrantSelector) (where []string, args []any) {
	where = []string{"revoked_at IS NULL"}
	if sel.Source != "" {
		where = append(where, "source = ?", "source_id = ?")
		args = append(args, string(sel.Source), sel.SourceID)
	}
	if sel.UserID != "" {
		where = append(where, "user_id = ?")
		args = append(args, sel.UserID)
	}
	if len(sel.GrantedUnder) > 0 {
		where = append(where, "granted_under IN ?")
		args = append(args, sel.GrantedUnder)
	}
	return where, args
}
