package orgs

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// Audit actions of just-in-time elevation.
const (
	ActElevationRequest = "elevation.request"
	ActElevationApprove = "elevation.approve"
	ActElevationReject  = "elevation.reject"
	ActElevationCancel  = "elevation.cancel"
)

// Elevation states.
const (
	ElevationRequested = "requested"
	ElevationApproved  = "approved"
	ElevationRejected  = "rejected"
	ElevationCancelled = "cancelled"
	ElevationLapsed    = "expired-unapproved"
)

// ElevationWindow is how long a request waits for a decision: after it, approving
// would grant on a justification nobody can vouch for any more.
const ElevationWindow = 24 * time.Hour

// Elevation is a request for a privileged role, for a reason and a duration. Approved
// by a second person, it becomes a grant that expires on its own.
type Elevation struct {
	ID           string
	ConnectionID string
	UserID       string // the beneficiary: a user of ConnectionID, or the service account
	// ServiceAccountID is set when the beneficiary is a service account (UserID is then
	// its id, ConnectionID its owner's connection); the grant it becomes has no connection.
	ServiceAccountID string
	RoleID           string
	OrgID            string
	Reason           string
	Duration         time.Duration
	RequestedBy      string
	Requested        time.Time
	State            string
	DecidedBy        string
	Decided          *time.Time
	DecisionReason   string
	GrantID          string
}

// ElevationStore keeps elevation requests; the access store implements it.
type ElevationStore interface {
	CreateElevation(ctx context.Context, e *Elevation) error
	Elevation(ctx context.Context, id string) (*Elevation, error)
	// UpdateElevation runs fn on the request, locked, and stores the result.
	UpdateElevation(ctx context.Context, id string, fn func(*Elevation) error) (*Elevation, error)
}

func (a *Access) elevations() (ElevationStore, error) {
	s, ok := a.Store.(ElevationStore)
	if !ok {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this store keeps no elevation requests")
	}
	return s, nil
}

// Holds reports whether p is the person conn/userID acting through their own
// delegation: nobody reviews or approves their own access.
func (p Principal) Holds(conn, userID string) bool { return isHolder(p, conn, userID) }

// isHolder reports whether the principal is the user itself, through a delegate key.
func isHolder(by Principal, conn, userID string) bool {
	return by.Delegation != nil && by.Delegation.HolderConnectionID == conn && by.Delegation.HolderUserID == userID
}

// RequestElevation asks for the privileged role for the user on the org, for d. The
// user may ask for itself (with a delegate key); otherwise the requester needs
// manage_members on the org.
func (a *Access) RequestElevation(ctx context.Context, by Principal, conn *Connection, userID, roleKey, orgID, reason string, d time.Duration) (*Elevation, error) {
	role, err := a.elevationRole(ctx, roleKey, reason, d)
	if err != nil {
		return nil, err
	}
	byID, err := a.Store.OrgsByID(ctx, []string{orgID, conn.OrgID})
	if err != nil {
		return nil, err
	}
	target := byID[orgID]
	if target == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no org %q", orgID)
	}
	if home := byID[conn.OrgID]; home == nil || !home.Contains(target) {
		return nil, orgscim.Errorf(orgscim.Forbidden, "org %q is outside the subtree of connection %q", target.Slug, conn.Slug)
	}
	if !isHolder(by, conn.ID, userID) {
		if err := a.Authorize(ctx, by, CapManageMembers, target); err != nil {
			return nil, err
		}
	}
	user, err := a.Users.Get(ctx, conn.ID, userID)
	if err != nil {
		return nil, err
	}
	if !user.Active {
		return nil, orgscim.Errorf(orgscim.Invalid, "user %s is inactive", user.UserName)
	}
	return a.requestElevation(ctx, by, elevationFor{conn: conn.ID, holder: userID}, role, target, reason, d)
}

// elevationRole checks what every request needs: a reason, a privileged role, and a
// duration within the role's maximum.
func (a *Access) elevationRole(ctx context.Context, roleKey, reason string, d time.Duration) (*Role, error) {
	if _, err := a.elevations(); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "an elevation needs a reason")
	}
	role, err := a.Store.RoleByKey(ctx, roleKey)
	if err != nil {
		return nil, err
	}
	if !role.Privileged {
		return nil, orgscim.Errorf(orgscim.Invalid, "role %q is not privileged: assign it directly", role.Key)
	}
	if d <= 0 || (role.MaxDuration > 0 && d > role.MaxDuration) {
		return nil, orgscim.Errorf(orgscim.Invalid, "duration must be positive and at most %s for role %q", role.MaxDuration, role.Key)
	}
	return role, nil
}

// elevationFor is the beneficiary of a request: a user of conn, or a service account
// (serviceAccount set, holder its id, conn its owner's connection).
type elevationFor struct {
	conn, holder, serviceAccount string
}

// requestElevation stores and records a request whose beneficiary, org and role
// (elevationRole) the caller has checked, for a requester it has authorised.
func (a *Access) requestElevation(ctx context.Context, by Principal, f elevationFor, role *Role, target *Org, reason string, d time.Duration) (*Elevation, error) {
	store, err := a.elevations()
	if err != nil {
		return nil, err
	}
	now := a.CurrentTime()
	el := &Elevation{ID: provisioning.NewID(), ConnectionID: f.conn, UserID: f.holder, ServiceAccountID: f.serviceAccount,
		RoleID: role.ID, OrgID: target.ID, Reason: reason, Duration: d, RequestedBy: by.Name(), Requested: now, State: ElevationRequested}
	err = a.InTx(ctx, func(ctx context.Context) error {
		if err := store.CreateElevation(ctx, el); err != nil {
			return err
		}
		detail := map[string]any{"user_id": f.holder, "role": role.Key, "reason": reason, "duration_seconds": int64(d / time.Second)}
		if f.serviceAccount != "" {
			detail["service_account_id"] = f.serviceAccount
		}
		return a.recordElevation(ctx, ActElevationRequest, el, detail)
	})
	if err != nil {
		return nil, err
	}
	return el, nil
}

func (a *Access) recordElevation(ctx context.Context, action string, el *Elevation, detail map[string]any) error {
	e := audit.New(ctx, a.CurrentTime(), action, "elevation", el.ID)
	e.ConnectionID, e.OrgID = el.ConnectionID, el.OrgID
	e.Diff = audit.Detail(detail)
	return Record(ctx, a.Audit, e)
}

// decide runs a decision on a pending request, inside one transaction.
func (a *Access) decide(ctx context.Context, id string, fn func(ctx context.Context, el *Elevation, org *Org, now time.Time) error) (*Elevation, error) {
	store, err := a.elevations()
	if err != nil {
		return nil, err
	}
	var out *Elevation
	err = a.InTx(ctx, func(ctx context.Context) error {
		now := a.CurrentTime()
		el, err := store.UpdateElevation(ctx, id, func(el *Elevation) error {
			if el.State != ElevationRequested {
				return orgscim.Errorf(orgscim.Conflict, "elevation %s is %s, not awaiting a decision", el.ID, el.State)
			}
			org, err := a.Org(ctx, el.OrgID)
			if err != nil {
				return err
			}
			return fn(ctx, el, org, now)
		})
		out = el
		return err
	})
	return out, err
}

// ApproveElevation approves a request and grants the role until approval plus the
// requested duration, in one transaction. The approver must hold approve on the org and
// be neither the requester nor the beneficiary.
func (a *Access) ApproveElevation(ctx context.Context, by Principal, id, reason string) (*Elevation, error) {
	return a.decide(ctx, id, func(ctx context.Context, el *Elevation, org *Org, now time.Time) error {
		if by.Name() == el.RequestedBy {
			return orgscim.Errorf(orgscim.Forbidden, "a request is approved by someone other than its requester")
		}
		if isHolder(by, el.ConnectionID, el.UserID) {
			return orgscim.Errorf(orgscim.Forbidden, "nobody approves their own elevation")
		}
		if err := a.Authorize(ctx, by, CapApprove, org); err != nil {
			return err
		}
		if now.Sub(el.Requested) > ElevationWindow {
			return orgscim.Errorf(orgscim.Conflict, "elevation %s waited more than %s for a decision; ask again", el.ID, ElevationWindow)
		}
		expires := now.Add(el.Duration)
		holderConn := el.ConnectionID
		if el.ServiceAccountID != "" {
			holderConn = ""
		}
		g := &Grant{ID: provisioning.NewID(), ConnectionID: holderConn, UserID: el.UserID, RoleID: el.RoleID, OrgID: el.OrgID,
			Source: SourceElevation, SourceID: el.ID, GrantedBy: el.RequestedBy, GrantedUnder: by.Under(), ApprovedBy: by.Name(), Reason: el.Reason,
			ValidFrom: now, Expires: &expires, Created: now}
		if err := a.Store.CreateGrant(ctx, g); err != nil {
			return err
		}
		el.State, el.DecidedBy, el.Decided, el.DecisionReason, el.GrantID = ElevationApproved, by.Name(), &now, reason, g.ID
		return a.recordElevation(ctx, ActElevationApprove, el, map[string]any{"grant_id": g.ID, "expires_at": expires,
			"reason": reason})
	})
}

// RejectElevation refuses a request; the same people who may approve may reject.
func (a *Access) RejectElevation(ctx context.Context, by Principal, id, reason string) (*Elevation, error) {
	return a.decide(ctx, id, func(ctx context.Context, el *Elevation, org *Org, now time.Time) error {
		if err := a.Authorize(ctx, by, CapApprove, org); err != nil {
			return err
		}
		el.State, el.DecidedBy, el.Decided, el.DecisionReason = ElevationRejected, by.Name(), &now, reason
		return a.recordElevation(ctx, ActElevationReject, el, map[string]any{"reason": reason})
	})
}

// CancelElevation withdraws a request; only its requester, or an operator, may.
func (a *Access) CancelElevation(ctx context.Context, by Principal, id string) (*Elevation, error) {
	return a.decide(ctx, id, func(ctx context.Context, el *Elevation, org *Org, now time.Time) error {
		if by.Name() != el.RequestedBy && by.Operator == "" {
			return orgscim.Errorf(orgscim.Forbidden, "only the requester withdraws a request")
		}
		el.State, el.DecidedBy, el.Decided = ElevationCancelled, by.Name(), &now
		return a.recordElevation(ctx, ActElevationCancel, el, nil)
	})
}

// ElevationFor returns a request to a caller who may see its org, or the requester.
func (a *Access) ElevationFor(ctx context.Context, by Principal, id string) (*Elevation, error) {
	store, err := a.elevations()
	if err != nil {
		return nil, err
	}
	el, err := store.Elevation(ctx, id)
	if err != nil {
		return nil, err
	}
	if by.Name() == el.RequestedBy || isHolder(by, el.ConnectionID, el.UserID) {
		return el, nil
	}
	org, err := a.Org(ctx, el.OrgID)
	if err != nil {
		return nil, err
	}
	if err := a.Authorize(ctx, by, CapApprove, org); err != nil {
		if err := a.Authorize(ctx, by, CapManageMembers, org); err != nil {
			return nil, orgscim.Errorf(orgscim.NotFound, "elevation %q not found", id)
		}
	}
	return el, nil
}
