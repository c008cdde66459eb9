package orgs

import (
	"context"
	"encoding/csv"
	"io"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
)

// AccessRow is one live grant as an auditor reads it: who holds what on which org, why,
// and until when.
type AccessRow struct {
	GrantID      string
	OrgID        string
	OrgPath      string // the org's ids path, "/root/.../id/"
	UserID       string
	UserName     string
	Email        string
	ExternalID   string
	Connection   string // slug
	ConnectionID string
	Role         string // key
	Source       GrantSource
	SourceID     string
	GrantedBy    string
	GrantedUnder string
	ApprovedBy   string
	Reason       string
	ValidFrom    time.Time
	Expires      *time.Time
	// Owner is set for a service account's grant (UserID is the account's id, UserName
	// its name, no connection): "CONNECTION_SLUG/USER_ID" of its accountable owner.
	Owner string
}

// ExportStore streams the live grants of a subtree.
type ExportStore interface {
	// AccessRows calls fn for each grant in force at at, held by a live, active user of
	// an active connection, on an org whose path starts with pathPrefix (every org when
	// empty), ordered by org path, userName and role.
	AccessRows(ctx context.Context, pathPrefix string, at time.Time, fn func(*AccessRow) error) error
	// ServiceAccountRows calls fn for each grant in force at at held by an unretired
	// service account, on an org whose path starts with pathPrefix, ordered by org path,
	// account name and role.
	ServiceAccountRows(ctx context.Context, pathPrefix string, at time.Time, fn func(*AccessRow) error) error
	// OrgsUnder returns the orgs whose path starts with pathPrefix (every org when empty).
	OrgsUnder(ctx context.Context, pathPrefix string) ([]*Org, error)
}

// AccessExportColumns is the header of the access export.
// holder is "user" or "service_account"; a service account's row names the account in
// user_name and user_id, and its accountable owner in owner.
var AccessExportColumns = []string{"org_path", "user_name", "email", "external_id", "user_id", "connection", "role",
	"source", "source_id", "granted_by", "approved_by", "reason", "valid_from", "expires_at", "grant_id", "holder", "owner"}

// Exporter writes current access as CSV for auditors.
type Exporter struct {
	Orgs   Store
	Store  ExportStore
	Access *Access // authorization and the clock
	// ServiceAccounts, when set, puts the service accounts' grants in the export (after
	// the people's), each only while its account holds under the authority rule.
	ServiceAccounts interface {
		Holds(ctx context.Context, id string) (*ServiceAccount, *Org, error)
	}
}

// Subtree returns the org an export of orgSlug covers, checking that by may see it.
// An empty slug is the whole tree for an operator and the delegated subtree for a
// delegate. A nil org with no error means the whole tree.
func (x *Exporter) Subtree(ctx context.Context, by Principal, orgSlug string) (*Org, error) {
	if orgSlug == "" {
		if by.Operator != "" && !by.Confined {
			return nil, nil
		}
		if by.Support != nil {
			return x.Orgs.OrgByID(ctx, by.Support.OrgID)
		}
		if by.Operator != "" {
			return nil, orgscim.Errorf(orgscim.Forbidden, "the whole tree holds partners' data: operator keys export it only in a support session, one org at a time")
		}
		if by.Delegation == nil {
			return nil, orgscim.Errorf(orgscim.Forbidden, "no authority here")
		}
		o, err := x.Orgs.OrgByID(ctx, by.Delegation.OrgID)
		if err != nil {
			return nil, err
		}
		return o, x.Access.Authorize(ctx, by, CapManageMembers, o)
	}
	o, err := x.Orgs.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, err
	}
	return o, x.Access.Authorize(ctx, by, CapManageMembers, o)
}

// WriteCSV writes the access in force now on root's subtree (the whole tree when root
// is nil), one grant a line, under a header row. Cells a spreadsheet would read as a
// formula are prefixed with an apostrophe.
func (x *Exporter) WriteCSV(ctx context.Context, root *Org, w io.Writer) error {
	prefix := ""
	if root != nil {
		prefix = root.Path
	}
	all, err := x.Store.OrgsUnder(ctx, prefix)
	if err != nil {
		return err
	}
	slugs := map[string]string{}
	byID := map[string]*Org{}
	for _, o := range all {
		slugs[o.ID] = o.Slug
		byID[o.ID] = o
	}
	if root != nil {
		// The path is written from the tree's root, as the importer reads org paths.
		above, err := x.Orgs.OrgsByID(ctx, root.AncestorIDs())
		if err != nil {
			return err
		}
		for id, o := range above {
			slugs[id] = o.Slug
			byID[id] = o
		}
	}
	paths := map[string]string{}
	slugPath := func(idPath string) string {
		if p, ok := paths[idPath]; ok {
			return p
		}
		ids := strings.Split(strings.Trim(idPath, "/"), "/")
		for i, id := range ids {
			ids[i] = slugs[id]
		}
		p := strings.Join(ids, "/")
		paths[idPath] = p
		return p
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(AccessExportColumns); err != nil {
		return err
	}
	// The authority rule decides what is exported: a grant whose org path is not in an
	// active relationship, or whose scope or authority no longer holds, is no access.
	now := x.Access.CurrentTime()
	st := x.Access.newStanding(now)
	pathHolds := map[string]bool{}
	n := 0
	// accounts memoises, per service account, the org it holds on (nil: it does not).
	accounts := map[string]*Org{}
	write := func(r *AccessRow) error {
		holds, ok := pathHolds[r.OrgPath]
		if !ok {
			holds = inactiveOnPath(pathIDs(r.OrgPath), byID, now) == ""
			pathHolds[r.OrgPath] = holds
		}
		if !holds {
			return nil
		}
		holder := "user"
		if r.Owner != "" {
			holder = "service_account"
			home, seen := accounts[r.UserID]
			if !seen {
				_, h, err := x.ServiceAccounts.Holds(ctx, r.UserID)
				if c := orgscim.ErrorCode(err); err != nil && c != orgscim.Forbidden && c != orgscim.NotFound {
					return err
				}
				home, accounts[r.UserID] = h, h
			}
			if home == nil || byID[r.OrgID] == nil || !home.Contains(byID[r.OrgID]) {
				return nil
			}
		}
		g := &Grant{ID: r.GrantID, ConnectionID: r.ConnectionID, OrgID: r.OrgID, GrantedUnder: r.GrantedUnder,
			ValidFrom: r.ValidFrom, Expires: r.Expires}
		if why, err := st.of(ctx, g, byID[r.OrgID]); err != nil || why != "" {
			return err
		}
		expires := ""
		if r.Expires != nil {
			expires = r.Expires.UTC().Format(time.RFC3339)
		}
		rec := []string{slugPath(r.OrgPath), r.UserName, r.Email, r.ExternalID, r.UserID, r.Connection, r.Role,
			string(r.Source), r.SourceID, r.GrantedBy, r.ApprovedBy, r.Reason, r.ValidFrom.UTC().Format(time.RFC3339), expires, r.GrantID,
			holder, r.Owner}
		for i, v := range rec {
			rec[i] = SafeCell(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			cw.Flush()
			return cw.Error()
		}
		return nil
	}
	if err := x.Store.AccessRows(ctx, prefix, now, write); err != nil {
		return err
	}
	if x.ServiceAccounts != nil {
		if err := x.Store.ServiceAccountRows(ctx, prefix, now, write); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// SafeCell defuses a cell that a spreadsheet would evaluate as a formula (OWASP's CSV
// injection): one starting with = + - @, a tab or a carriage return gets a leading
// apostrophe.
func SafeCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
