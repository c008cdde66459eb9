package orgs

import (
	"context"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
)

// ActConnectionUpdate is the audit action of a change to a connection's status.
const ActConnectionUpdate = "connection.update"

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
		return record(ctx, d.Audit, e)
	})
	return out, err
}
