package orgs

import (
	"context"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// ActConnectionUpdate is the audit action of a change to a connection's status.
const ActConnectionUpdate = "connection.update"

// ActConnectionActivate: a pending connection's IdP made its first successful change.
const ActConnectionActivate = "connection.activate"

// ConnectionPending is the status of a connection onboarding created: its tokens work,
// and its first successful change over SCIM makes it active.
const ConnectionPending = "pending"

// ConnectionStatusStore changes a connection's status; the org store implements it.
type ConnectionStatusStore interface {
	SetConnectionStatus(ctx context.Context, id, status string) error
}

// SetConnectionStatus suspends a connection, or makes it active again. A suspended
// connection's tokens stop working at once: authentication checks the status on every
// request. Its users, groups and grants stay as they are.
func (d *Directory) SetConnectionStatus(ctx context.Context, slug, status string) (*Connection, error) {
	if status != "active" && status != "suspended" {
		return nil, orgscim.Errorf(orgscim.Invalid, "status must be active or suspended")
	}
	st, ok := d.Store.(ConnectionStatusStore)
	if !ok {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this store cannot change a connection's status")
	}
	var out *Connection
	err := d.inTx(ctx, func(ctx context.Context) error {
		c, err := d.Store.ConnectionBySlug(ctx, slug)
		if err != nil {
			return err
		}
		out = c
		if c.Status == status {
			return nil
		}
		if err := st.SetConnectionStatus(ctx, c.ID, status); err != nil {
			return err
		}
		e := audit.New(ctx, d.now(), ActConnectionUpdate, "connection", c.ID)
		e.ConnectionID = c.ID
		e.Diff = audit.Diff(map[string]string{"status": c.Status}, map[string]string{"status": status})
		c.Status = status
		return Record(ctx, d.Audit, e)
	})
	return out, err
}

// PendingActivator makes a pending connection active; the org store implements it.
type PendingActivator interface {
	// ActivatePending sets the status to active if it is pending, and reports whether
	// it did.
	ActivatePending(ctx context.Context, id string) (bool, error)
}

// ActivatePending makes a pending connection active after its first successful change,
// audited with the actor in ctx (the token), unless the ActivationGate says not yet. It does nothing for any other status, and
// costs nothing then: the caller's connection says whether it is pending.
func (d *Directory) ActivatePending(ctx context.Context, conn *Connection) error {
	if conn == nil || conn.Status != ConnectionPending {
		return nil
	}
	st, ok := d.Store.(PendingActivator)
	if !ok {
		return nil
	}
	if d.ActivationGate != nil {
		if err := d.ActivationGate.MayActivate(ctx, conn); orgscim.ErrorCode(err) == orgscim.Forbidden {
			return nil // not yet: the gate's requirement is unmet, and the change itself was allowed
		} else if err != nil {
			return err
		}
	}
	return d.inTx(ctx, func(ctx context.Context) error {
		changed, err := st.ActivatePending(ctx, conn.ID)
		if err != nil || !changed {
			return err
		}
		e := audit.New(ctx, d.now(), ActConnectionActivate, "connection", conn.ID)
		e.ConnectionID, e.OrgID = conn.ID, conn.OrgID
		e.Diff = audit.Diff(map[string]string{"status": ConnectionPending}, map[string]string{"status": "active"})
		return Record(ctx, d.Audit, e)
	})
}
