package provisioning

import (
	"context"
	"time"

	"github.com/orgscim/orgscim/audit"
)

// ActionUserLink is the audit action of a SCIM creation that adopted an imported user.
const ActionUserLink = "user.link"

// ImportLinks finds the users a spreadsheet import created that no IdP has claimed yet.
type ImportLinks interface {
	// UnlinkedImports returns the connection's live, imported, not yet linked users
	// whose externalId is externalID or whose folded e-mail is emailKey (an empty value
	// matches nothing).
	UnlinkedImports(ctx context.Context, conn, externalID, emailKey string) ([]*User, error)
	// ClaimImported records that the IdP claimed the user, if it is an imported user not
	// claimed yet, and reports whether it was.
	ClaimImported(ctx context.Context, conn, id string, at time.Time) (bool, error)
}

// adoptable picks the imported user a SCIM creation of u claims, by the documented
// rule: the one with u's externalId; failing that, the only one with u's e-mail
// (ignoring case). Several with the e-mail and none with the externalId: nobody, since
// guessing would hand one person's access to another.
func (s *Users) adoptable(ctx context.Context, conn string, u *User, v verdict) (*User, error) {
	if s.Links == nil || (u.ExternalID == "" && u.Email == "") {
		return nil, nil
	}
	emailKey := ""
	if u.Email != "" {
		emailKey = FoldKey(u.Email)
		if s.Domains != nil {
			// An address in a domain the org does not hold verified proves nothing about
			// who the imported person is.
			ok := v.linkable
			if !v.linkKnown {
				var err error
				if ok, err = s.Domains.Linkable(ctx, conn, u.Email); err != nil {
					return nil, err
				}
			}
			if !ok {
				emailKey = ""
			}
		}
	}
	if u.ExternalID == "" && emailKey == "" {
		return nil, nil
	}
	found, err := s.Links.UnlinkedImports(ctx, conn, u.ExternalID, emailKey)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	var byEmail []*User
	for _, c := range found {
		if u.ExternalID != "" && c.ExternalID == u.ExternalID {
			return c, nil
		}
		if emailKey != "" && FoldKey(c.Email) == emailKey {
			byEmail = append(byEmail, c)
		}
	}
	if len(byEmail) == 1 {
		return byEmail[0], nil
	}
	return nil, nil
}

// adopt makes the imported user the IdP's: its attributes become the IdP's, under its
// old id, so that its grants and audit trail stay with one identity.
func (s *Users) adopt(ctx context.Context, conn string, id string, attrs map[string]any, hash string, now time.Time, v verdict) (*User, error) {
	u, err := s.update(ctx, conn, ActionUserLink, now, s.call(conn, id), func(old *User) error {
		old.Attributes = attrs
		old.Index()
		if err := validate(old); err != nil {
			return err
		}
		if v.hold != "" {
			old.Active = false
		}
		old.PasswordHash = hash
		old.Version++
		old.LastModified = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	_, err = s.Links.ClaimImported(ctx, conn, id, now)
	return u, err
}

// claimByUpdate marks an imported user as the IdP's once the IdP changes it: an IdP that
// found the user by a filter (Okta matches an existing userName this way) and updated it
// has claimed it as surely as one that created it, and no later creation may adopt it.
func (s *Users) claimByUpdate(ctx context.Context, conn string, u *User, now time.Time) error {
	if s.Links == nil || !u.Unclaimed {
		return nil // the IdP's own users, nearly all of them: no statement
	}
	claimed, err := s.Links.ClaimImported(ctx, conn, u.ID, now)
	if err != nil || !claimed || s.Audit == nil {
		return err
	}
	return record(ctx, s.Audit, now, ActionUserLink, "user", u.ID, conn, u.OrgID, audit.Detail(map[string]string{"claimed_by": "update"}))
}
