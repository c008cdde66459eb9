package orgs

import (
	"context"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// ActMappingReject records a draft refused before it granted anything.
const ActMappingReject = "mapping.reject"

// RejectMapping refuses a draft: it is retired without ever having been active, so it
// granted nothing and revokes nothing. The people who may approve it may reject it —
// its drafter too, which withdraws it — and a reason is required, since the drafter
// will want to know why.
func (a *Access) RejectMapping(ctx context.Context, by Principal, id, reason string) (*Mapping, error) {
	if reason == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "a reason is required to reject a mapping")
	}
	var out *Mapping
	err := a.InTx(ctx, func(ctx context.Context) error {
		if err := a.authorizeOnMapping(ctx, by, CapApprove, id); err != nil {
			return err
		}
		now := a.CurrentTime()
		type rejected struct {
			mappingView
			RejectReason string `json:"reject_reason,omitempty"`
		}
		var before rejected
		m, err := a.Store.UpdateMapping(ctx, id, func(m *Mapping) error {
			before = rejected{mappingView: viewMapping(m)}
			if m.State != MappingDraft {
				return orgscim.Errorf(orgscim.Conflict, "mapping %s is %s, not a draft awaiting approval", m.ID, m.State)
			}
			m.State, m.Retired = MappingRetired, &now
			return nil
		})
		if err != nil {
			return err
		}
		out = m
		e := audit.New(ctx, now, ActMappingReject, "mapping", m.ID)
		e.ConnectionID, e.OrgID = m.ConnectionID, m.OrgID
		e.Diff = audit.Diff(before, rejected{viewMapping(m), reason})
		return Record(ctx, a.Audit, e)
	})
	return out, err
}
