package main

// Operator tasks of the CLI: admin API keys, org relationships, the role catalogue and
// the access check. Whoever runs these commands has the database, so they act with the
// vendor's full authority, like an operator key on the admin API; their changes are
// audited as made by "operator:cli:<OS user>" (asOperator).

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

type apikeyCreateCmd struct {
	Operator string        `required:"" placeholder:"NAME" help:"The operator's name, recorded as operator:NAME in what the key does."`
	Expires  time.Duration `placeholder:"DURATION" help:"Lifetime, e.g. 720h; 0 means no expiry (with --name: 90 days, its maximum)."`
	Name     string        `placeholder:"NAME" help:"Make the key a named service identity of the vendor org (needs --owner)."`
	Owner    string        `placeholder:"CONNECTION/USER_ID" help:"The named key's accountable owner: an active user of a connection of the vendor's root org. The key stops when the owner does."`
	actor
	jsonFlag
}

func (apikeyCreateCmd) Help() string {
	return `The key (prefix oscadm_) is printed once and stored only as a hash. Use it as
Authorization: Bearer oscadm_... on the admin API. With --name and --owner the key is a
named, expiring service identity of the vendor org: it works only while its owner is an
active user of the vendor's own connection (deactivated in the IdP: the key stops at once).

Example:

    orgscim apikey create --operator alice --expires 720h --json
    orgscim apikey create --operator ci --name deploy-bot --owner vendor/0b7e5a54-2f7d-4a43-8d8c-3a2f9e1c4b60 --expires 720h`
}

func (c *apikeyCreateCmd) Run(env *cliEnv) error {
	if c.Expires < 0 {
		return usagef("--expires must not be negative")
	}
	if (c.Name == "") != (c.Owner == "") {
		return usagef("--name and --owner go together")
	}
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newServices(db, nil)
	var (
		k      *orgs.AdminKey
		secret string
	)
	if c.Name != "" {
		connSlug, user, ok := strings.Cut(c.Owner, "/")
		if !ok || connSlug == "" || user == "" {
			return usagef("--owner is CONNECTION/USER_ID")
		}
		conn, err := svc.dir.Connection(ctx, connSlug)
		if err != nil {
			return cliError(err)
		}
		k, secret, err = svc.keys.IssueNamedOperatorKey(ctx, orgs.NamedKeyRequest{Operator: c.Operator, Name: c.Name,
			OwnerConnectionID: conn.ID, OwnerUserID: user, Expires: expiryIn(c.Expires)})
		if err != nil {
			return cliError(err)
		}
	} else if k, secret, err = svc.keys.IssueOperatorKey(ctx, c.Operator, expiryIn(c.Expires)); err != nil {
		return cliError(err)
	}
	if c.JSON {
		out := map[string]any{"id": k.ID, "key": secret, "hint": k.Hint, "operator": k.Operator, "expires_at": nil}
		if k.Identity != nil {
			out["name"], out["owner"] = k.Identity.Name, c.Owner
		}
		if k.Expires != nil {
			out["expires_at"] = k.Expires.Format(time.RFC3339)
		}
		return printJSON(env.stdout, out)
	}
	fmt.Fprintf(env.stdout, "admin API key %s issued for operator %s\nkey (shown once): %s\n", k.ID, k.Operator, secret)
	return nil
}

type apikeyRevokeCmd struct {
	ID string `name:"id" required:"" placeholder:"KEY_ID" help:"The key's id."`
	actor
	jsonFlag
}

func (apikeyRevokeCmd) Help() string {
	return `Example:

    orgscim apikey revoke --id 5d0f9a52-3b8e-4bde-a7f4-0c3e1d2b6a77`
}

func (c *apikeyRevokeCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newServices(db, nil).keys.Revoke(ctx, c.ID); err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": c.ID, "revoked": true})
	}
	fmt.Fprintf(env.stdout, "admin API key %s revoked\n", c.ID)
	return nil
}

// optionalTime parses an RFC 3339 time; "" or "none" means no time (clears it).
func optionalTime(name, v string) (*time.Time, error) {
	if v == "" || strings.EqualFold(v, "none") {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, usagef("--%s: %q is not an RFC 3339 time (e.g. 2027-06-30T00:00:00Z) or none", name, v)
	}
	return &t, nil
}

// optionalTimeFlag is optionalTime for a field that says "set" (non-nil) or "unchanged".
func optionalTimeFlag(name, v string) (**time.Time, error) {
	t, err := optionalTime(name, v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// orgUpdateCmd changes what its flags name and leaves the rest: a nil field was not given.
type orgUpdateCmd struct {
	Slug          string         `required:"" help:"The org's slug."`
	Status        *string        `placeholder:"pending|active|suspended|ended" completion:"pending active suspended ended" help:"Relationship status."`
	ContractStart *string        `placeholder:"RFC3339|none" help:"When the contract starts; none clears it."`
	ContractEnd   *string        `placeholder:"RFC3339|none" help:"When the contract ends; none clears it. Past it (plus --grace) the org and its subtree lose all access."`
	Grace         *time.Duration `placeholder:"DURATION" help:"How long access continues after the contract ends, e.g. 72h."`
	Owner         *string        `help:"The accountable owner, e.g. an e-mail address."`
	Kind          *string        `placeholder:"KIND" completion:"vendor partner subsidiary business_unit" help:"vendor, partner, subsidiary or business_unit."`
	Name          *string        `help:"A new name."`
	actor
	jsonFlag
}

func (orgUpdateCmd) Help() string {
	return `An ended or past contract removes the whole subtree's access at once.

Example:

    orgscim org update --slug acme --contract-end 2027-06-30T00:00:00Z --grace 72h
    orgscim org update --slug acme --status ended --json`
}

func (c *orgUpdateCmd) Run(env *cliEnv) error {
	var u orgs.OrgUpdate
	if c.Status != nil {
		st := orgs.Status(*c.Status)
		u.Status = &st
	}
	if c.Kind != nil {
		k := orgs.Kind(*c.Kind)
		u.Kind = &k
	}
	u.Name, u.Owner, u.Grace = c.Name, c.Owner, c.Grace
	var err error
	if c.ContractStart != nil {
		if u.ContractStart, err = optionalTimeFlag("contract-start", *c.ContractStart); err != nil {
			return err
		}
	}
	if c.ContractEnd != nil {
		if u.ContractEnd, err = optionalTimeFlag("contract-end", *c.ContractEnd); err != nil {
			return err
		}
	}
	if u == (orgs.OrgUpdate{}) {
		return usagef("nothing to change; give --status, --contract-end, --grace, --owner, ...")
	}
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := newServices(db, nil).dir.UpdateOrg(ctx, c.Slug, u)
	if err != nil {
		return cliError(err)
	}
	return printOrg(env.stdout, o, c.JSON)
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

type orgMoveCmd struct {
	Slug   string `required:"" help:"The org to move."`
	Parent string `required:"" placeholder:"SLUG" help:"The new parent's slug."`
	actor
	jsonFlag
}

func (orgMoveCmd) Help() string {
	return `The org keeps its subtree; grants that inherit down follow the new path.

Example:

    orgscim org move --slug acme-emea --parent acme`
}

func (c *orgMoveCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newServices(db, nil).dir.MoveOrg(ctx, c.Slug, c.Parent); err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"slug": c.Slug, "parent": c.Parent})
	}
	fmt.Fprintf(env.stdout, "org %s moved under %s\n", c.Slug, c.Parent)
	return nil
}

type roleCreateCmd struct {
	Key         string        `required:"" help:"The role's key, e.g. billing.viewer."`
	Permission  []string      `required:"" placeholder:"P" help:"A permission the role gives, e.g. billing.read or billing.*; repeat for more."`
	Description string        `placeholder:"TEXT" help:"What the role is for."`
	Privileged  bool          `help:"Needs a second person's approval and expires after --max-duration."`
	MaxDuration time.Duration `placeholder:"DURATION" help:"How long a grant of a privileged role lasts, e.g. 8h (required with --privileged)."`
	Inherits    bool          `help:"A grant on an org holds on its whole subtree."`
	actor
	jsonFlag
}

func (roleCreateCmd) Help() string {
	return `Example:

    orgscim role create --key billing.viewer --permission billing.read --inherits
    orgscim role create --key billing.admin --permission 'billing.*' --privileged --max-duration 8h`
}

func (c *roleCreateCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := newServices(db, nil).access.CreateRole(ctx, orgs.Role{Key: c.Key, Description: c.Description, Permissions: c.Permission,
		Privileged: c.Privileged, MaxDuration: c.MaxDuration, Inherits: c.Inherits})
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": r.ID, "key": r.Key, "description": r.Description, "permissions": r.Permissions,
			"privileged": r.Privileged, "max_duration_seconds": int64(r.MaxDuration / time.Second), "inherits": r.Inherits})
	}
	fmt.Fprintf(env.stdout, "role %s created: %s\n", r.Key, strings.Join(r.Permissions, ", "))
	return nil
}

type accessCheckCmd struct {
	JSON           bool   `name:"json" help:"Print JSON, as GET /api/v1/access/check (or /service-accounts/{id}/access/check) answers."`
	Connection     string `placeholder:"SLUG" help:"The user's connection."`
	User           string `placeholder:"USER_ID" help:"The user's SCIM id."`
	ServiceAccount string `name:"service-account" placeholder:"ID" help:"Ask for a service account instead of a user."`
	Permission     string `required:"" placeholder:"P" help:"The permission, e.g. billing.read."`
	Org            string `required:"" placeholder:"SLUG" help:"The org the user would act for."`
}

func (accessCheckCmd) Help() string {
	return `Prints allow with each grant behind it (role, org, who granted and approved it, the
mapping and group membership it comes from), or deny with the reason.

Example:

    orgscim access check --connection acme --user fdc41fcf-94f7-487f-80bf-8f2e41d137d3 \
        --permission billing.read --org acme-emea

    orgscim access check --service-account 3f1c2a9e-... --permission reports.read --org acme`
}

func (c *accessCheckCmd) Run(env *cliEnv) error {
	ctx, stdout := env.ctx, env.stdout
	if sa, person := c.ServiceAccount != "", c.Connection != "" || c.User != ""; sa == person || (person && (c.Connection == "" || c.User == "")) {
		return usagef("name either --connection and --user, or --service-account")
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	if c.ServiceAccount != "" {
		return c.serviceAccount(ctx, env, db)
	}
	api, conn, o, err := checker(ctx, db, c.Connection, c.Org)
	if err != nil {
		return cliError(err)
	}
	d, err := api.Access.Check(ctx, conn, c.User, c.Permission, o.ID)
	if err != nil {
		return cliError(err)
	}
	out, err := api.Explain(ctx, conn, d)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(stdout, out)
	}
	if !out.Allowed {
		fmt.Fprintf(stdout, "deny: %s\n", out.Reason)
		return nil
	}
	fmt.Fprintf(stdout, "allow: %s on %s\n", c.Permission, o.Slug)
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

// serviceAccount answers the check for a service account, by the same rule as the API.
func (c *accessCheckCmd) serviceAccount(ctx context.Context, env *cliEnv, db *sqlstore.DB) error {
	_, api := saService(db)
	out, err := api.ServiceAccountCheck(ctx, c.ServiceAccount, c.Permission, c.Org)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, out)
	}
	if !out.Allowed {
		fmt.Fprintf(env.stdout, "deny: %s\n", out.Reason)
		return nil
	}
	fmt.Fprintf(env.stdout, "allow: %s on %s for service account %s\n", c.Permission, c.Org, c.ServiceAccount)
	for _, h := range out.Because {
		fmt.Fprintf(env.stdout, "  grant %s: role %s on %s (%s), granted by %s\n", h.Grant.ID, h.Role.Key, h.Org.Slug, h.Grant.Source, h.Grant.GrantedBy)
	}
	return nil
}

type apikeyListCmd struct {
	jsonFlag
}

func (apikeyListCmd) Help() string {
	return `Lists the operator keys (never their secrets) with their state now: active, expired,
revoked, or owner-gone for a named key whose owner no longer answers for it.

Example:

    orgscim apikey list --json`
}

func (c *apikeyListCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newServices(db, nil)
	keys, err := svc.keys.OperatorKeys(env.ctx)
	if err != nil {
		return cliError(err)
	}
	type row struct {
		ID        string     `json:"id"`
		Hint      string     `json:"hint"`
		Operator  string     `json:"operator"`
		Name      string     `json:"name"`
		Owner     string     `json:"owner"`
		State     string     `json:"state"`
		Why       string     `json:"why,omitempty"`
		CreatedAt time.Time  `json:"created_at"`
		ExpiresAt *time.Time `json:"expires_at"`
		LastUsed  *time.Time `json:"last_used_at"`
	}
	out := []row{}
	for _, ks := range keys {
		r := row{ID: ks.Key.ID, Hint: ks.Key.Hint, Operator: ks.Key.Operator, State: ks.State, Why: ks.Why, CreatedAt: ks.Key.Created,
			ExpiresAt: ks.Key.Expires, LastUsed: ks.Key.LastUsed}
		if id := ks.Identity; id != nil {
			r.Name, r.Owner = id.Name, id.OwnerConnectionID+"/"+id.OwnerUserID
			if conn, err := db.Access().ConnectionByID(env.ctx, id.OwnerConnectionID); err == nil {
				r.Owner = conn.Slug + "/" + id.OwnerUserID
			}
		}
		out = append(out, r)
	}
	if c.JSON {
		return printJSON(env.stdout, out)
	}
	for _, r := range out {
		expires := "never"
		if r.ExpiresAt != nil {
			expires = r.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(env.stdout, "%s  %-12s operator:%s", r.ID, r.State, r.Operator)
		if r.Name != "" {
			fmt.Fprintf(env.stdout, "  name %s, owner %s", r.Name, r.Owner)
		}
		fmt.Fprintf(env.stdout, ", expires %s\n", expires)
		if r.Why != "" {
			fmt.Fprintf(env.stdout, "    %s\n", r.Why)
		}
	}
	return nil
}
