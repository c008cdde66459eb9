package imports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Audit actions of an import: one import.apply event for the batch, in the control
// chain, besides the org.create, user.create and grant.create events of what it made.
const ActImportApply = "import.apply"

// ImportBatch is the record of one applied import.
type ImportBatch struct {
	ID             string
	CreatedBy      string
	Created        time.Time
	FileSHA256     string
	Rows           int
	OrgsCreated    int
	UsersCreated   int
	GrantsCreated  int
	GrantsReplaced int
	Unchanged      int
}

// ImportStore is what an import needs beyond the org and access stores.
type ImportStore interface {
	CreateImportBatch(ctx context.Context, b *ImportBatch) error
	// UserByUserName returns the live user of the connection with this userName,
	// ignoring case; NotFound when there is none.
	UserByUserName(ctx context.Context, conn, userName string) (*provisioning.User, error)
	// UserByExternalID returns a live user of the connection with this externalId;
	// NotFound when there is none.
	UserByExternalID(ctx context.Context, conn, externalID string) (*provisioning.User, error)
	// UsersByEmail returns up to two live users of the connection with this e-mail,
	// ignoring case.
	UsersByEmail(ctx context.Context, conn, email string) ([]*provisioning.User, error)
	// CreateImportedUser stores a new user marked as created by the batch, to be linked
	// when its IdP pushes it.
	CreateImportedUser(ctx context.Context, conn string, u *provisioning.User, batchID string) error
	// ConnectionsOn returns the connections bound to any of the orgs.
	ConnectionsOn(ctx context.Context, orgIDs []string) ([]*orgs.Connection, error)
}

// Importer applies spreadsheets of orgs, people and their roles.
type Importer struct {
	Orgs   orgs.Store
	Access *orgs.Access // roles, grants, authorization, transactions and the audit log
	Store  ImportStore
	// Observer is told of each created user in the import's transaction (placement).
	Observer provisioning.UserObserver
}

// Line actions of an import report.
const (
	ImportCreate    = "create"
	ImportExists    = "exists"    // already there; the import leaves it as it is
	ImportUnchanged = "unchanged" // the grant is already there, as the file says
	ImportReplace   = "replace"   // a grant from an earlier import, with another expiry: revoked and granted anew
)

// ImportLine says what the import does (or would do) for one line.
type ImportLine struct {
	Line        int
	Org         string
	OrgAction   string
	Connection  string
	UserName    string
	UserID      string
	UserAction  string
	Role        string
	GrantAction string
	ExpiresAt   *time.Time
}

// ImportReport is the outcome of an import or of its dry run.
type ImportReport struct {
	DryRun     bool
	Applied    bool
	BatchID    string
	FileSHA256 string
	Rows       int
	Problems   []ImportProblem
	Lines      []ImportLine
	// What was (or would be) done.
	OrgsCreated    int
	UsersCreated   int
	GrantsCreated  int
	GrantsReplaced int
	Unchanged      int
}

// plannedUser is a person of the file, in one connection.
type plannedUser struct {
	conn *orgs.Connection
	user *provisioning.User // existing, or to create
	new  bool
	row  ImportRow
}

type plannedGrant struct {
	grant    *orgs.Grant
	replaces *orgs.Grant
}

// importPlan is what an import resolved against the database.
type importPlan struct {
	report   *ImportReport
	newOrgs  []*orgs.Org
	newUsers []*plannedUser
	grants   []plannedGrant
}

// Import checks the file and, unless dryRun or the file has problems, applies it in one
// transaction with an import batch record and audit events. The import only adds:
// orgs missing on a path (under an existing org), people missing in a connection, and
// grants with source import. A run that would change nothing stores nothing, so running
// a file twice changes nothing the second time.
func (im *Importer) Import(ctx context.Context, by orgs.Principal, data []byte, dryRun bool) (*ImportReport, error) {
	a := im.Access
	now := a.CurrentTime()
	sum := sha256.Sum256(data)
	rows, problems := ParseImport(data, now)
	rep := &ImportReport{DryRun: dryRun, FileSHA256: hex.EncodeToString(sum[:]), Rows: len(rows), Problems: problems, Lines: []ImportLine{}}
	if rep.Problems == nil {
		rep.Problems = []ImportProblem{}
	}
	if len(problems) > 0 && len(rows) == 0 {
		return rep, nil
	}
	run := func(ctx context.Context) error {
		p, err := im.plan(ctx, by, rows, now, rep)
		if err != nil {
			return err
		}
		if dryRun || len(rep.Problems) > 0 || len(p.newOrgs)+len(p.newUsers)+len(p.grants) == 0 {
			return nil
		}
		return im.apply(ctx, by, p, now)
	}
	var err error
	if dryRun {
		err = run(ctx)
	} else {
		err = a.InTx(ctx, run)
	}
	if err != nil {
		return nil, err
	}
	if s, ok := im.Store.(interface{ ImportApplied(context.Context) error }); ok && rep.Applied && rep.UsersCreated > 0 {
		// Committed already; fresher statistics only speed up what follows.
		_ = s.ImportApplied(ctx)
	}
	return rep, nil
}

// plan resolves every row against the database and records each problem and each
// line's actions in rep. It changes nothing.
func (im *Importer) plan(ctx context.Context, by orgs.Principal, rows []ImportRow, now time.Time, rep *ImportReport) (*importPlan, error) {
	a := im.Access
	p := &importPlan{report: rep}
	bad := func(line int, column, format string, args ...any) {
		rep.Problems = append(rep.Problems, ImportProblem{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
	}
	orgsBySlug := map[string]*orgs.Org{} // known orgs, existing and planned
	planned := map[string]bool{}         // slugs the import creates
	createdOn := map[string]int{}        // slug → the line that creates it
	orgByID := map[string]*orgs.Org{}    // for connection checks
	lookupOrg := func(slug string) (*orgs.Org, error) {
		if o, ok := orgsBySlug[slug]; ok {
			return o, nil
		}
		o, err := im.Orgs.OrgBySlug(ctx, slug)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			orgsBySlug[slug] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		orgsBySlug[slug], orgByID[o.ID] = o, o
		return o, nil
	}
	authorized := map[string]error{}
	authorize := func(c orgs.Capability, o *orgs.Org) error {
		k := string(c) + " " + o.ID
		if err, ok := authorized[k]; ok {
			return err
		}
		err := a.Authorize(ctx, by, c, o)
		if err != nil && orgscim.ErrorCode(err) == orgscim.Internal {
			return err
		}
		authorized[k] = err
		return err
	}
	roles := map[string]*orgs.Role{}
	conns := map[string]*orgs.Connection{}
	onPath := map[string][]*orgs.Connection{} // the connections bound on an org's path, by org id
	users := map[string]*plannedUser{}        // connection id + folded userName
	externalIDs := map[string]string{}        // connection id + externalId → folded userName
	grantLines := map[string]int{}            // connection, user, role, org → line
	roleByKey := func(key string) (*orgs.Role, error) {
		role, seen := roles[key]
		if !seen {
			var err error
			role, err = a.Store.RoleByKey(ctx, key)
			if err != nil && orgscim.ErrorCode(err) != orgscim.NotFound {
				return nil, err
			}
			roles[key] = role
		}
		return role, nil
	}
	others := func(row ImportRow) error { return im.otherProblems(ctx, row, rep, lookupOrg, roleByKey, bad) }
	for _, row := range rows {
		if row.Invalid {
			if err := others(row); err != nil {
				return nil, err
			}
			continue
		}
		line := ImportLine{Line: row.Line, Org: row.OrgPath[len(row.OrgPath)-1], OrgAction: ImportExists}
		// The org path: its first org exists; each next one is the previous one's child,
		// or is created as such.
		var org *orgs.Org
		ok := true
		for i, slug := range row.OrgPath {
			o, err := lookupOrg(slug)
			if err != nil {
				return nil, err
			}
			switch {
			case o == nil && i == 0:
				bad(row.Line, "org_path", "org %q does not exist; the path starts at an existing org", slug)
				ok = false
			case o == nil:
				if err := authorize(orgs.CapDelegate, org); err != nil {
					if orgscim.ErrorCode(err) == orgscim.Internal {
						return nil, err
					}
					bad(row.Line, "org_path", "cannot create org %q under %s: %s", slug, org.Slug, orgscim.ErrorMessage(err))
					ok = false
					break
				}
				name := slug
				if i == len(row.OrgPath)-1 && row.OrgName != "" {
					name = row.OrgName
				}
				n := &orgs.Org{ID: provisioning.NewID(), Slug: slug, Name: name, ParentID: org.ID, Kind: orgs.KindUnder(org),
					Status: orgs.StatusActive, Version: 1, Created: now, Updated: now}
				n.Path = org.Path + n.ID + "/"
				orgsBySlug[slug], orgByID[n.ID], planned[slug], createdOn[slug] = n, n, true, row.Line
				p.newOrgs = append(p.newOrgs, n)
				rep.OrgsCreated++
				if i == len(row.OrgPath)-1 {
					line.OrgAction = ImportCreate
				}
				o = n
			case i > 0 && o.ParentID != org.ID:
				where := "elsewhere in the tree"
				if planned[slug] {
					where = fmt.Sprintf("on line %d under another parent", createdOn[slug])
				}
				bad(row.Line, "org_path", "org %q exists %s, not under %s", slug, where, org.Slug)
				ok = false
			}
			if !ok {
				break
			}
			org = o
		}
		if !ok {
			// The path did not resolve: the problem says why, and there is no org to act on.
			if err := others(row); err != nil {
				return nil, err
			}
			continue
		}
		// Creating an org takes delegate on its parent (above); putting people into
		// it takes manage_members there as well, even when the file creates it.
		if !planned[org.Slug] || row.UserName != "" {
			if err := authorize(orgs.CapManageMembers, org); err != nil {
				bad(row.Line, "org_path", "%s", orgscim.ErrorMessage(err))
				rep.Lines = append(rep.Lines, line)
				if err := others(row); err != nil {
					return nil, err
				}
				continue
			}
		}
		if row.UserName == "" {
			if line.OrgAction != ImportCreate {
				rep.Unchanged++
			}
			rep.Lines = append(rep.Lines, line)
			continue
		}
		// The person's connection: named, or the one bound nearest above the org.
		conn, msg, err := im.connectionFor(ctx, row, org, conns, onPath, orgByID)
		if err != nil {
			return nil, err
		}
		if conn == nil {
			bad(row.Line, "connection", "%s", msg)
			rep.Lines = append(rep.Lines, line)
			if err := others(row); err != nil {
				return nil, err
			}
			continue
		}
		line.Connection = conn.Slug
		line.UserName = row.UserName
		// The person, once per connection.
		key := conn.ID + "\x00" + provisioning.FoldKey(row.UserName)
		pu := users[key]
		if pu != nil {
			if differ := sameUser(pu.row, row); differ != "" {
				bad(row.Line, differ, "user %s is described differently on line %d", row.UserName, pu.row.Line)
			}
			line.UserAction = ImportExists
		} else {
			pu = &plannedUser{conn: conn, row: row}
			u, how, err := im.findPerson(ctx, conn.ID, row)
			switch {
			case err != nil:
				return nil, err
			case u != nil:
				pu.user = u
				line.UserAction = ImportExists
				if how == "userName" && row.ExternalID != "" && u.ExternalID != "" && u.ExternalID != row.ExternalID {
					bad(row.Line, "external_id", "user %s exists in connection %s with another externalId (%s)", row.UserName, conn.Slug, u.ExternalID)
				}
			default:
				pu.new = true
				pu.user = importedUser(conn.ID, row, now)
				p.newUsers = append(p.newUsers, pu)
				rep.UsersCreated++
				line.UserAction = ImportCreate
			}
			if row.ExternalID != "" {
				xk := conn.ID + "\x00" + row.ExternalID
				if prev, dup := externalIDs[xk]; dup && prev != key {
					bad(row.Line, "external_id", "externalId %s is given to two people in connection %s", row.ExternalID, conn.Slug)
				}
				externalIDs[xk] = key
			}
			users[key] = pu
		}
		line.UserID = pu.user.ID
		if row.Role == "" {
			if line.OrgAction != ImportCreate && line.UserAction != ImportCreate {
				rep.Unchanged++
			}
			rep.Lines = append(rep.Lines, line)
			continue
		}
		line.Role, line.ExpiresAt = row.Role, row.Expires
		role, err := roleByKey(row.Role)
		if err != nil {
			return nil, err
		}
		if msg := roleProblem(row.Role, role); msg != "" {
			bad(row.Line, "role", "%s", msg)
			rep.Lines = append(rep.Lines, line)
			continue
		}
		if d := by.Delegation; d != nil {
			if err := a.HoldsRole(ctx, d, role, org, now); err != nil {
				if orgscim.ErrorCode(err) == orgscim.Internal {
					return nil, err
				}
				bad(row.Line, "role", "%s", orgscim.ErrorMessage(err))
				rep.Lines = append(rep.Lines, line)
				continue
			}
		}
		gk := conn.ID + "\x00" + pu.user.ID + "\x00" + role.ID + "\x00" + org.ID
		if prev, dup := grantLines[gk]; dup {
			bad(row.Line, "role", "duplicate of line %d: %s already gets %s on %s", prev, row.UserName, role.Key, org.Slug)
			rep.Lines = append(rep.Lines, line)
			continue
		}
		grantLines[gk] = row.Line
		reason := row.Reason
		if reason == "" {
			reason = "imported"
		}
		g := &orgs.Grant{ConnectionID: conn.ID, UserID: pu.user.ID, RoleID: role.ID, OrgID: org.ID, Source: orgs.SourceImport,
			GrantedBy: by.Name(), GrantedUnder: by.Under(), Reason: reason, ValidFrom: now, Expires: row.Expires, Created: now}
		var previous *orgs.Grant
		if !pu.new && !planned[org.Slug] {
			live, _, err := a.Store.LiveGrants(ctx, pu.user.ID, []string{org.ID})
			if err != nil {
				return nil, err
			}
			for _, l := range live {
				if l.Source == orgs.SourceImport && l.RoleID == role.ID && l.OrgID == org.ID && l.ConnectionID == conn.ID {
					previous = l
					break
				}
			}
		}
		switch {
		case previous != nil && sameExpiry(previous.Expires, row.Expires) && previous.LiveAt(now):
			line.GrantAction = ImportUnchanged
			if line.OrgAction != ImportCreate && line.UserAction != ImportCreate {
				rep.Unchanged++
			}
		case previous != nil:
			line.GrantAction = ImportReplace
			rep.GrantsReplaced++
			p.grants = append(p.grants, plannedGrant{grant: g, replaces: previous})
		default:
			line.GrantAction = ImportCreate
			rep.GrantsCreated++
			p.grants = append(p.grants, plannedGrant{grant: g})
		}
		rep.Lines = append(rep.Lines, line)
	}
	return p, nil
}

// findPerson finds the live user of the connection that a row describes, by the rule
// that links an IdP's push to an imported user: its userName; else its externalId;
// else its e-mail, when exactly one user has it. A person the IdP renamed since an
// earlier import is so found again rather than imported twice.
func (im *Importer) findPerson(ctx context.Context, conn string, row ImportRow) (*provisioning.User, string, error) {
	u, err := im.Store.UserByUserName(ctx, conn, row.UserName)
	if err == nil || orgscim.ErrorCode(err) != orgscim.NotFound {
		return u, "userName", err
	}
	if row.ExternalID != "" {
		u, err := im.Store.UserByExternalID(ctx, conn, row.ExternalID)
		if err == nil || orgscim.ErrorCode(err) != orgscim.NotFound {
			return u, "externalId", err
		}
	}
	if row.Email != "" {
		found, err := im.Store.UsersByEmail(ctx, conn, row.Email)
		if err != nil || len(found) != 1 {
			return nil, "", err
		}
		return found[0], "email", nil
	}
	return nil, "", nil
}

// connectionFor finds the connection of a row's person: the one it names, which must be
// bound at or above the org, or else the only one bound to the nearest org above it
// that has any. A nil connection comes with the problem.
func (im *Importer) connectionFor(ctx context.Context, row ImportRow, org *orgs.Org, conns map[string]*orgs.Connection, onPath map[string][]*orgs.Connection, orgByID map[string]*orgs.Org) (*orgs.Connection, string, error) {
	if row.Connection != "" {
		c, ok := conns[row.Connection]
		if !ok {
			var err error
			c, err = im.Orgs.ConnectionBySlug(ctx, row.Connection)
			if orgscim.ErrorCode(err) == orgscim.NotFound {
				c = nil
			} else if err != nil {
				return nil, "", err
			}
			conns[row.Connection] = c
		}
		if c == nil {
			return nil, fmt.Sprintf("no connection %q", row.Connection), nil
		}
		home := orgByID[c.OrgID]
		if home == nil {
			o, err := im.Orgs.OrgByID(ctx, c.OrgID)
			if err != nil {
				return nil, "", err
			}
			home, orgByID[o.ID] = o, o
		}
		if !home.Contains(org) {
			return nil, fmt.Sprintf("connection %s is bound to org %s, which is not on the path of %s", c.Slug, home.Slug, org.Slug), nil
		}
		return c, "", nil
	}
	ids := org.AncestorIDs()
	found, ok := onPath[org.ID]
	if !ok {
		var err error
		if found, err = im.Store.ConnectionsOn(ctx, ids); err != nil {
			return nil, "", err
		}
		onPath[org.ID] = found // a file's rows are mostly about a few orgs
	}
	for i := len(ids) - 1; i >= 0; i-- {
		var here []*orgs.Connection
		for _, c := range found {
			if c.OrgID == ids[i] {
				here = append(here, c)
			}
		}
		switch len(here) {
		case 0:
			continue
		case 1:
			conns[here[0].Slug] = here[0]
			return here[0], "", nil
		default:
			var slugs []string
			for _, c := range here {
				slugs = append(slugs, c.Slug)
			}
			return nil, fmt.Sprintf("several connections are bound above %s (%s): name one in the connection column", org.Slug, strings.Join(slugs, ", ")), nil
		}
	}
	return nil, fmt.Sprintf("no connection is bound at or above org %s: name one in the connection column", org.Slug), nil
}

// sameUser names a column in which two rows describe one person differently.
func sameUser(a, b ImportRow) string {
	for _, f := range [][3]string{{"email", a.Email, b.Email}, {"external_id", a.ExternalID, b.ExternalID},
		{"given_name", a.GivenName, b.GivenName}, {"family_name", a.FamilyName, b.FamilyName}} {
		if f[1] != "" && f[2] != "" && f[1] != f[2] {
			return f[0]
		}
	}
	return ""
}

func sameExpiry(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

// importedUser is the SCIM resource of a person the file describes, as an IdP would
// have pushed it: active, with its e-mail as the primary work address.
func importedUser(conn string, row ImportRow, now time.Time) *provisioning.User {
	attrs := map[string]any{
		"schemas":  []any{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": row.UserName,
		"active":   true,
	}
	if row.ExternalID != "" {
		attrs["externalId"] = row.ExternalID
	}
	if row.GivenName != "" || row.FamilyName != "" {
		name := map[string]any{}
		if row.GivenName != "" {
			name["givenName"] = row.GivenName
		}
		if row.FamilyName != "" {
			name["familyName"] = row.FamilyName
		}
		attrs["name"] = name
		attrs["displayName"] = strings.TrimSpace(row.GivenName + " " + row.FamilyName)
	}
	if row.Email != "" {
		attrs["emails"] = []any{map[string]any{"value": row.Email, "type": "work", "primary": true}}
	}
	u := &provisioning.User{ID: provisioning.NewID(), ConnectionID: conn, Attributes: attrs, Version: 1, Created: now, LastModified: now}
	u.Index()
	return u
}

type importedUserView struct {
	UserName      string `json:"userName"`
	ExternalID    string `json:"externalId,omitempty"`
	Email         string `json:"email,omitempty"`
	DisplayName   string `json:"displayName,omitempty"`
	ImportBatchID string `json:"import_batch_id"`
}

type importView struct {
	FileSHA256     string `json:"file_sha256"`
	Rows           int    `json:"rows"`
	OrgsCreated    int    `json:"orgs_created"`
	UsersCreated   int    `json:"users_created"`
	GrantsCreated  int    `json:"grants_created"`
	GrantsReplaced int    `json:"grants_replaced"`
	Unchanged      int    `json:"unchanged"`
}

// apply stores the plan in the caller's transaction: the batch, its orgs, people and
// grants, each with its audit event.
func (im *Importer) apply(ctx context.Context, by orgs.Principal, p *importPlan, now time.Time) error {
	a := im.Access
	rep := p.report
	b := &ImportBatch{ID: provisioning.NewID(), CreatedBy: by.Name(), Created: now, FileSHA256: rep.FileSHA256, Rows: rep.Rows,
		OrgsCreated: rep.OrgsCreated, UsersCreated: rep.UsersCreated, GrantsCreated: rep.GrantsCreated,
		GrantsReplaced: rep.GrantsReplaced, Unchanged: rep.Unchanged}
	if err := im.Store.CreateImportBatch(ctx, b); err != nil {
		return err
	}
	// The orgs are created as the directory creates them, with their usual events.
	dir := &orgs.Directory{Store: im.Orgs, Audit: a.Audit}
	for _, o := range p.newOrgs {
		if err := dir.StoreOrg(ctx, o, now); err != nil {
			return err
		}
	}
	for _, pu := range p.newUsers {
		u := pu.user
		if err := im.Store.CreateImportedUser(ctx, pu.conn.ID, u, b.ID); err != nil {
			return err
		}
		if im.Observer != nil {
			if err := im.Observer.UserChanged(ctx, pu.conn.ID, nil, u); err != nil {
				return err
			}
		}
		e := audit.New(ctx, now, provisioning.ActionUserCreate, "user", u.ID)
		e.ConnectionID, e.OrgID = pu.conn.ID, u.OrgID
		e.Diff = audit.Diff(nil, importedUserView{UserName: u.UserName, ExternalID: u.ExternalID, Email: u.Email,
			DisplayName: u.DisplayName, ImportBatchID: b.ID})
		if err := orgs.Record(ctx, a.Audit, e); err != nil {
			return err
		}
	}
	for _, pg := range p.grants {
		if old := pg.replaces; old != nil {
			if err := a.RevokeOne(ctx, old, now, by.Name(), "replaced by import batch "+b.ID, nil); err != nil {
				return err
			}
		}
		g := pg.grant
		g.ID, g.SourceID = provisioning.NewID(), b.ID
		if err := a.CreateGrant(ctx, g, now); err != nil {
			return err
		}
	}
	e := audit.New(ctx, now, ActImportApply, "import", b.ID)
	e.Diff = audit.Detail(importView{FileSHA256: b.FileSHA256, Rows: b.Rows, OrgsCreated: b.OrgsCreated,
		UsersCreated: b.UsersCreated, GrantsCreated: b.GrantsCreated, GrantsReplaced: b.GrantsReplaced, Unchanged: b.Unchanged})
	if err := orgs.Record(ctx, a.Audit, e); err != nil {
		return err
	}
	rep.Applied, rep.BatchID = true, b.ID
	return nil
}
