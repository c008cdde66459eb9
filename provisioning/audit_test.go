package provisioning_test

import (
	"context"
	"errors"
	"testing"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
)

// switchableLog is the store's audit log that can be made to fail.
type switchableLog struct {
	db   *sqlstore.DB
	fail bool
}

var errAuditDown = errors.New("audit log unavailable")

func (l *switchableLog) Record(ctx context.Context, e audit.Event) error {
	if l.fail {
		return errAuditDown
	}
	return l.db.Audit().Record(ctx, e)
}

// TestChangeAndItsEventCommitTogether: when the audit event of a change cannot be
// recorded, the change is not stored either, for every kind of change.
func TestChangeAndItsEventCommitTogether(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		dir := &orgs.Directory{Store: db.Orgs()}
		if _, err := dir.CreateOrg(ctx, "Acme", "acme", ""); err != nil {
			t.Fatal(err)
		}
		c, _, err := dir.CreateConnection(ctx, "acme", "acme", "entra")
		if err != nil {
			t.Fatal(err)
		}
		conn := c.ID
		log := &switchableLog{db: db}
		users := &provisioning.Users{Store: db.Users(), Tx: db, Audit: log}
		groups := &provisioning.Groups{Store: db.Groups(), Tx: db, Audit: log}
		u, err := users.Create(ctx, conn, map[string]any{"userName": "ann", "externalId": "x-ann"}, "")
		if err != nil {
			t.Fatal(err)
		}
		gone, err := users.Create(ctx, conn, map[string]any{"userName": "old", "externalId": "x-old"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := users.Delete(ctx, conn, gone.ID, nil); err != nil {
			t.Fatal(err)
		}
		g, err := groups.Create(ctx, conn, map[string]any{"displayName": "Staff"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		count := func() int {
			events, err := db.Audit().Events(ctx, audit.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return len(events)
		}
		recorded := count()
		if recorded != 4 {
			t.Fatalf("%d events of 4 changes", recorded)
		}

		log.fail = true
		for _, tc := range []struct {
			name      string
			change    func() error
			unchanged func() bool
		}{
			{"user create", func() error {
				_, err := users.Create(ctx, conn, map[string]any{"userName": "ben"}, "")
				return err
			}, func() bool {
				p, err := users.List(ctx, conn, provisioning.Query{Count: 10})
				return err == nil && p.Total == 1
			}},
			{"user restore", func() error {
				_, err := users.Create(ctx, conn, map[string]any{"userName": "old", "externalId": "x-old"}, "")
				return err
			}, func() bool {
				_, err := users.Get(ctx, conn, gone.ID)
				return err != nil
			}},
			{"user update", func() error {
				_, err := users.Update(ctx, conn, u.ID, func(u *provisioning.User) error {
					u.Attributes["title"] = "Lead"
					return nil
				})
				return err
			}, func() bool {
				got, err := users.Get(ctx, conn, u.ID)
				return err == nil && got.Attributes["title"] == nil && got.Version == u.Version
			}},
			{"user delete", func() error { return users.Delete(ctx, conn, u.ID, nil) }, func() bool {
				_, err := users.Get(ctx, conn, u.ID)
				return err == nil
			}},
			{"group create", func() error {
				_, err := groups.Create(ctx, conn, map[string]any{"displayName": "Other"}, nil)
				return err
			}, func() bool {
				p, err := groups.List(ctx, conn, provisioning.Query{Count: 10})
				return err == nil && p.Total == 1
			}},
			{"group members", func() error {
				_, err := groups.Update(ctx, conn, g.ID, func(*provisioning.Group) ([]provisioning.MemberChange, error) {
					return []provisioning.MemberChange{{Kind: provisioning.AddMembers, Members: []provisioning.Member{{Value: u.ID}}}}, nil
				})
				return err
			}, func() bool {
				n := 0
				err := groups.Members(ctx, conn, g.ID, func(provisioning.Member) error { n++; return nil })
				return err == nil && n == 0
			}},
			{"group delete", func() error { return groups.Delete(ctx, conn, g.ID, nil) }, func() bool {
				_, err := groups.Get(ctx, conn, g.ID)
				return err == nil
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.change(); !errors.Is(err, errAuditDown) {
					t.Fatalf("error %v, want the audit log's", err)
				}
				if !tc.unchanged() {
					t.Error("the change was stored without its event")
				}
				if n := count(); n != recorded {
					t.Errorf("%d events, want %d", n, recorded)
				}
			})
		}
	})
}
