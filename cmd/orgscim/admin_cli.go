package main

// Operator tasks of the CLI: admin API keys, org relationships, the role catalogue and
// the access check. Whoever runs these commands has the database, so they act with the
// vendor's full authority, like an operator key on the admin API; their changes are
// audited as made by "operator:cli:<OS user>" (asOperator).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

func apikeyCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("apikey create", stderr)
	operator := fs.String("operator", "", "the operator's name, recorded as operator:NAME in what the key does (required)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h; 0 means no expiry")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *operator == "" || *expires < 0 {
		fmt.Fprintln(stderr, "apikey create: --operator is required; --expires must not be negative")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var exp *time.Time
	if *expires > 0 {
		t := time.Now().Add(*expires)
		exp = &t
	}
	keys := newServices(db, nil).keys
	k, secret, err := keys.IssueOperatorKey(ctx, *operator, exp)
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		out := map[string]any{"id": k.ID, "key": secret, "hint": k.Hint, "operator": k.Operator, "expires_at": nil}
		if k.Expires != nil {
			out["expires_at"] = k.Expires.Format(time.RFC3339)
		}
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "admin API key %s issued for operator %s\nkey (shown once): %s\n", k.ID, k.Operator, secret)
	return nil
}

func apikeyRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("apikey revoke", stderr)
	id := fs.String("id", "", "the key's id (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		fmt.Fprintln(stderr, "apikey revoke: --id is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newServices(db, nil).keys.Revoke(ctx, *id); err != nil {
		return cliError(err)
	}
	fmt.Fprintf(stdout, "admin API key %s revoked\n", *id)
	return nil
}

// optionalTime parses an RFC 3339 time; "" or "none" means no time (clears it).
func optionalTime(name, v string) (*time.Time, error) {
	if v == "" || strings.EqualFold(v, "none") {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("--%s: %q is not an RFC 3339 time (e.g. 2027-06-30T00:00:00Z) or none", name, v)
	}
	return &t, nil
}

func orgUpdate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("org update", stderr)
	slug := fs.String("slug", "", "the org's slug (required)")
	status := fs.String("status", "", "relationship status: pending, active, suspended or ended")
	kind := fs.String("kind", "", "vendor, partner, subsidiary or business_unit")
	name := fs.String("name", "", "a new name")
	owner := fs.String("owner", "", "the accountable owner, e.g. an e-mail address")
	contractStart := fs.String("contract-start", "", "RFC 3339 time the contract starts; none clears it")
	contractEnd := fs.String("contract-end", "", "RFC 3339 time the contract ends; none clears it. Past it (plus --grace) the org and its subtree lose all access")
	grace := fs.Duration("grace", 0, "how long access continues after the contract ends, e.g. 72h")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *slug == "" {
		fmt.Fprintln(stderr, "org update: --slug is required")
		return errUsage
	}
	var u orgs.OrgUpdate
	var bad error
	set := 0
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "status":
			st := orgs.Status(*status)
			u.Status = &st
		case "kind":
			k := orgs.Kind(*kind)
			u.Kind = &k
		case "name":
			u.Name = name
		case "owner":
			u.Owner = owner
		case "contract-start":
			t, err := optionalTime(f.Name, *contractStart)
			if err != nil {
				bad = err
			}
			u.ContractStart = &t
		case "contract-end":
			t, err := optionalTime(f.Name, *contractEnd)
			if err != nil {
				bad = err
			}
			u.ContractEnd = &t
		case "grace":
			u.Grace = grace
		default:
			return
		}
		set++
	})
	if bad != nil {
		fmt.Fprintln(stderr, "org update:", bad)
		return errUsage
	}
	if set == 0 {
		fmt.Fprintln(stderr, "org update: nothing to change; give --status, --contract-end, --grace, --owner, ...")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := newServices(db, nil).dir.UpdateOrg(ctx, *slug, u)
	if err != nil {
		return cliError(err)
	}
	return printOrg(stdout, o, *asJSON)
}

func printOrg(stdout io.Writer, o *orgs.Org, asJSON bool) error {
	if asJSON {
		out := map[string]any{"id": o.ID, "slug": o.Slug, "name": o.Name, "parent_id": o.ParentID, "kind": o.Kind,
			"status": o.Status, "owner": o.Owner, "grace_seconds": int64(o.Grace / time.Second),
			"contract_start": o.ContractStart, "contract_end": o.ContractEnd, "version": o.Version}
		return printJSON(stdout, out)
	}
	end := "none"
	if o.ContractEnd != nil {
		end = o.ContractEnd.Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "org %s (%s): %s, contract end %s, grace %s, owner %q\n", o.Slug, o.Kind, o.Status, end, o.Grace, o.Owner)
	return nil
}

func orgMove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("org move", stderr)
	slug := fs.String("slug", "", "the org to move (required)")
	parent := fs.String("parent", "", "the new parent's slug (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *slug == "" || *parent == "" {
		fmt.Fprintln(stderr, "org move: --slug and --parent are required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newServices(db, nil).dir.MoveOrg(ctx, *slug, *parent); err != nil {
		return cliError(err)
	}
	fmt.Fprintf(stdout, "org %s moved under %s\n", *slug, *parent)
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func roleCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("role create", stderr)
	key := fs.String("key", "", "the role's key, e.g. billing.viewer (required)")
	description := fs.String("description", "", "what the role is for")
	var perms stringList
	fs.Var(&perms, "permission", "a permission the role gives, e.g. billing.read or billing.*; repeat for more (at least one)")
	privileged := fs.Bool("privileged", false, "needs a second person's approval and expires after --max-duration")
	maxDuration := fs.Duration("max-duration", 0, "how long a grant of a privileged role lasts, e.g. 8h (required with --privileged)")
	inherits := fs.Bool("inherits", false, "a grant on an org holds on its whole subtree")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *key == "" || len(perms) == 0 {
		fmt.Fprintln(stderr, "role create: --key and at least one --permission are required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	access := newServices(db, nil).access
	r, err := access.CreateRole(ctx, orgs.Role{Key: *key, Description: *description, Permissions: perms,
		Privileged: *privileged, MaxDuration: *maxDuration, Inherits: *inherits})
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"id": r.ID, "key": r.Key, "description": r.Description, "permissions": r.Permissions,
			"privileged": r.Privileged, "max_duration_seconds": int64(r.MaxDuration / time.Second), "inherits": r.Inherits})
	}
	fmt.Fprintf(stdout, "role %s created: %s\n", r.Key, strings.Join(r.Permissions, ", "))
	return nil
}

func accessCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("access check", stderr)
	conn := fs.String("connection", "", "connection slug (required)")
	user := fs.String("user", "", "the user's SCIM id (required)")
	perm := fs.String("permission", "", "the permission, e.g. billing.read (required)")
	org := fs.String("org", "", "org slug (required)")
	asJSON := fs.Bool("json", false, "print JSON, as GET /api/v1/access/check answers")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conn == "" || *user == "" || *perm == "" || *org == "" {
		fmt.Fprintln(stderr, "access check: --connection, --user, --permission and --org are required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	api, c, o, err := checker(ctx, db, *conn, *org)
	if err != nil {
		return cliError(err)
	}
	d, err := api.Access.Check(ctx, c, *user, *perm, o.ID)
	if err != nil {
		return cliError(err)
	}
	out, err := api.Explain(ctx, c, d)
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	if !out.Allowed {
		fmt.Fprintf(stdout, "deny: %s\n", out.Reason)
		return nil
	}
	fmt.Fprintf(stdout, "allow: %s on %s\n", *perm, o.Slug)
	for _, e := range out.Because {
		g := e.Grant
		expires := "never"
		if g.ExpiresAt != nil {
			expires = g.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(stdout, "  grant %s: role %s on %s (%s), granted by %s", g.ID, e.Role.Key, e.Org.Slug, g.Source, g.GrantedBy)
		if g.ApprovedBy != "" {
			fmt.Fprintf(stdout, ", approved by %s", g.ApprovedBy)
		}
		fmt.Fprintf(stdout, ", expires %s\n", expires)
		if m := e.Mapping; m != nil {
			fmt.Fprintf(stdout, "    ← mapping %s (drafted by %s, approved by %s): members of group %s\n", m.ID, m.DraftedBy, m.ApprovedBy, m.GroupID)
			var path []string
			for _, gr := range e.Groups {
				path = append(path, fmt.Sprintf("%q (%s)", gr.DisplayName, gr.ID))
			}
			fmt.Fprintf(stdout, "    ← membership: user in %s\n", strings.Join(path, " ⊂ "))
		}
		fmt.Fprintf(stdout, "    ← connection %s (%s, %s)\n", e.Connection.Slug, e.Connection.IdP, e.Connection.Status)
	}
	return nil
}

// checker wires what the access check needs, with the admin API's rendering.
func checker(ctx context.Context, db *sqlstore.DB, connSlug, orgSlug string) (*adminapi.Server, *orgs.Connection, *orgs.Org, error) {
	svc := newServices(db, nil)
	dir := svc.dir
	api := &adminapi.Server{Directory: dir, Access: svc.access, Groups: svc.groups}
	c, err := dir.Connection(ctx, connSlug)
	if err != nil {
		return nil, nil, nil, err
	}
	o, err := db.Orgs().OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, nil, nil, err
	}
	return api, c, o, nil
}
