package main

// orgscim service-account: non-human identities of an org, as an operator manages them.
// The commands call the same domain service as /api/v1/service-accounts and print what
// it answers.

import (
	"context"
	"fmt"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// serviceAccountCmds is the command group.
type serviceAccountCmds struct {
	Create   serviceAccountCreateCmd   `cmd:"" help:"Create a service account of an org, answerable to an owner."`
	List     serviceAccountListCmd     `cmd:"" help:"List an org's service accounts with their state now."`
	Show     serviceAccountShowCmd     `cmd:"" help:"Show one service account."`
	Reassign serviceAccountReassignCmd `cmd:"" help:"Give a service account a new owner (an orphan is no longer one)."`
	Retire   serviceAccountRetireCmd   `cmd:"" help:"Retire a service account with its grants and tokens."`
	Grant    serviceAccountGrantCmd    `cmd:"" help:"Give a service account a non-privileged role on an org of its subtree."`
	Token    struct {
		Create serviceAccountTokenCreateCmd `cmd:"" help:"Issue an integration token (shown once)."`
		Revoke serviceAccountTokenRevokeCmd `cmd:"" help:"Revoke an integration token at once."`
	} `cmd:"" help:"Integration tokens of a service account."`
}

func (serviceAccountCmds) Help() string {
	return `A service account is an integration's identity in an org: it holds grants like a
person, answers to an owner (an active SCIM user of a connection whose org contains it)
and expires (at most --service-account-max-lifetime of serve, 90 days by default). It
holds nothing the moment its owner is deactivated or deleted, its org's relationship or
contract ends, or it expires; the reconciler orphans an account whose owner is gone and
retires it after --service-account-orphan-grace unless it was reassigned.`
}

// saService wires the service and the admin API's rendering over db.
func saService(db *sqlstore.DB) (*orgs.ServiceAccounts, *adminapi.Server) {
	svc := newServices(db, nil)
	return svc.serviceAccounts, &adminapi.Server{Directory: svc.dir, Access: svc.access, ServiceAccounts: svc.serviceAccounts}
}

func printServiceAccount(env *cliEnv, api *adminapi.Server, ctx context.Context, sa *orgs.ServiceAccount, asJSON bool) error {
	out, err := api.ServiceAccountJSON(ctx, sa)
	if err != nil {
		return cliError(err)
	}
	if asJSON {
		return printJSON(env.stdout, out)
	}
	fmt.Fprintf(env.stdout, "%s  %-24s %-9s org %s, owner %s/%s, expires %s", out.ID, out.Name, out.State, out.Org,
		out.Owner.Connection, out.Owner.UserID, out.ExpiresAt.Format(time.RFC3339))
	if out.OrphanDeadline != nil && out.RetiredAt == nil {
		fmt.Fprintf(env.stdout, ", reassign or retire by %s", out.OrphanDeadline.Format(time.RFC3339))
	}
	if out.StateReason != "" {
		fmt.Fprintf(env.stdout, "\n    %s", out.StateReason)
	}
	fmt.Fprintln(env.stdout)
	return nil
}

// ownerConnection resolves the owner's connection slug.
func ownerConnection(ctx context.Context, db *sqlstore.DB, slug string) (string, error) {
	c, err := newServices(db, nil).dir.Connection(ctx, slug)
	if err != nil {
		return "", cliError(err)
	}
	return c.ID, nil
}

type serviceAccountCreateCmd struct {
	Org             string        `required:"" placeholder:"SLUG" help:"The org the account acts for (with its subtree)."`
	Name            string        `required:"" placeholder:"NAME" help:"Lower-case letters, digits and _.:-; unique among the org's live accounts."`
	Description     string        `placeholder:"TEXT" help:"What the integration does."`
	OwnerConnection string        `required:"" name:"owner-connection" placeholder:"SLUG" help:"The owner's connection."`
	OwnerUser       string        `required:"" name:"owner-user" placeholder:"USER_ID" help:"The owner's SCIM id: an active user of that connection."`
	Expires         time.Duration `placeholder:"DURATION" help:"Lifetime, e.g. 720h; 0 means the policy's maximum."`
	actor
	jsonFlag
}

func (serviceAccountCreateCmd) Help() string {
	return `Example:

    orgscim service-account create --org acme --name billing-sync \
        --owner-connection acme --owner-user fdc41fcf-94f7-487f-80bf-8f2e41d137d3 --expires 720h`
}

func (c *serviceAccountCreateCmd) Run(env *cliEnv) error {
	if c.Expires < 0 {
		return usagef("--expires must not be negative")
	}
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, api := saService(db)
	org, err := db.Orgs().OrgBySlug(ctx, c.Org)
	if err != nil {
		return cliError(err)
	}
	conn, err := ownerConnection(ctx, db, c.OwnerConnection)
	if err != nil {
		return err
	}
	sa, err := sas.Create(ctx, c.principal(), orgs.ServiceAccountRequest{OrgID: org.ID, Name: c.Name, Description: c.Description,
		OwnerConnectionID: conn, OwnerUserID: c.OwnerUser, Expires: expiryIn(c.Expires)})
	if err != nil {
		return cliError(err)
	}
	return printServiceAccount(env, api, ctx, sa, c.JSON)
}

type serviceAccountListCmd struct {
	Org     string `required:"" placeholder:"SLUG" help:"The org whose subtree's accounts to list."`
	Retired bool   `help:"Include retired accounts."`
	actor
	jsonFlag
}

func (serviceAccountListCmd) Help() string {
	return `Orphaned accounts (their owner gone) show the deadline to reassign or retire them by.

Example:

    orgscim service-account list --org acme`
}

func (c *serviceAccountListCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, api := saService(db)
	org, err := db.Orgs().OrgBySlug(ctx, c.Org)
	if err != nil {
		return cliError(err)
	}
	list, err := sas.List(ctx, c.principal(), org.ID, c.Retired)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		out := adminapi.ServiceAccountList{ServiceAccounts: []adminapi.ServiceAccount{}}
		for _, sa := range list {
			j, err := api.ServiceAccountJSON(ctx, sa)
			if err != nil {
				return cliError(err)
			}
			out.ServiceAccounts = append(out.ServiceAccounts, j)
		}
		return printJSON(env.stdout, out)
	}
	for _, sa := range list {
		if err := printServiceAccount(env, api, ctx, sa, false); err != nil {
			return err
		}
	}
	return nil
}

type serviceAccountShowCmd struct {
	ID string `arg:"" help:"The service account's id."`
	actor
	jsonFlag
}

func (c *serviceAccountShowCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, api := saService(db)
	sa, err := sas.Get(ctx, c.principal(), c.ID)
	if err != nil {
		return cliError(err)
	}
	return printServiceAccount(env, api, ctx, sa, c.JSON)
}

type serviceAccountReassignCmd struct {
	ID              string `arg:"" help:"The service account's id."`
	OwnerConnection string `required:"" name:"owner-connection" placeholder:"SLUG" help:"The new owner's connection."`
	OwnerUser       string `required:"" name:"owner-user" placeholder:"USER_ID" help:"The new owner's SCIM id."`
	Reason          string `placeholder:"TEXT" help:"Why, for the audit trail."`
	actor
	jsonFlag
}

func (c *serviceAccountReassignCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, api := saService(db)
	conn, err := ownerConnection(ctx, db, c.OwnerConnection)
	if err != nil {
		return err
	}
	sa, err := sas.Reassign(ctx, c.principal(), c.ID, conn, c.OwnerUser, c.Reason)
	if err != nil {
		return cliError(err)
	}
	return printServiceAccount(env, api, ctx, sa, c.JSON)
}

type serviceAccountRetireCmd struct {
	ID     string `arg:"" help:"The service account's id."`
	Reason string `required:"" placeholder:"TEXT" help:"Why it is retired."`
	actor
	jsonFlag
}

func (c *serviceAccountRetireCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, api := saService(db)
	sa, err := sas.Retire(ctx, c.principal(), c.ID, c.Reason)
	if err != nil {
		return cliError(err)
	}
	return printServiceAccount(env, api, ctx, sa, c.JSON)
}

type serviceAccountGrantCmd struct {
	ID     string `arg:"" help:"The service account's id."`
	Role   string `required:"" placeholder:"KEY" help:"A role that is not privileged (privileged ones: POST /api/v1/service-accounts/{id}/elevations)."`
	Org    string `required:"" placeholder:"SLUG" help:"An org of the account's subtree."`
	Reason string `placeholder:"TEXT" help:"Why, for the audit trail."`
	actor
	jsonFlag
}

func (c *serviceAccountGrantCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, _ := saService(db)
	org, err := db.Orgs().OrgBySlug(ctx, c.Org)
	if err != nil {
		return cliError(err)
	}
	g, err := sas.Grant(ctx, c.principal(), c.ID, c.Role, org.ID, c.Reason, nil)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": g.ID, "user_id": g.UserID, "role": c.Role, "org": c.Org, "source": g.Source})
	}
	fmt.Fprintf(env.stdout, "grant %s: role %s on %s to service account %s\n", g.ID, c.Role, c.Org, c.ID)
	return nil
}

type serviceAccountTokenCreateCmd struct {
	ID      string        `arg:"" help:"The service account's id."`
	Expires time.Duration `placeholder:"DURATION" help:"Lifetime, e.g. 168h; 0 means 30 days. Never after the account's expiry."`
	actor
	jsonFlag
}

func (serviceAccountTokenCreateCmd) Help() string {
	return `The token (prefix osint_) is printed once and stored only as a hash. The integration
presents it to POST /api/v1/integration/access/check to learn what it may do now.

Example:

    orgscim service-account token create 3f1c... --expires 168h --json`
}

func (c *serviceAccountTokenCreateCmd) Run(env *cliEnv) error {
	if c.Expires < 0 {
		return usagef("--expires must not be negative")
	}
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, _ := saService(db)
	t, secret, err := sas.IssueToken(ctx, c.principal(), c.ID, expiryIn(c.Expires))
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": t.ID, "token": secret, "hint": t.Hint, "expires_at": t.Expires.Format(time.RFC3339)})
	}
	fmt.Fprintf(env.stdout, "integration token %s issued for service account %s, expires %s\ntoken (shown once): %s\n",
		t.ID, c.ID, t.Expires.Format(time.RFC3339), secret)
	return nil
}

type serviceAccountTokenRevokeCmd struct {
	ID    string `arg:"" help:"The service account's id."`
	Token string `arg:"" help:"The token's id."`
	JSON  bool   `name:"json" help:"Print the result as JSON."`
	actor
}

func (c *serviceAccountTokenRevokeCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	sas, _ := saService(db)
	if err := sas.RevokeToken(ctx, c.principal(), c.ID, c.Token); err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"service_account": c.ID, "id": c.Token, "revoked": true})
	}
	fmt.Fprintf(env.stdout, "integration token %s revoked\n", c.Token)
	return nil
}

func (serviceAccountShowCmd) Help() string {
	return `Prints the account with its state now (active, orphaned, suspended, expired, retired).

Example:

    orgscim service-account show 3f1c2a9e-6d0b-4c1e-9a51-0f3c9b7e2d11 --json`
}

func (serviceAccountReassignCmd) Help() string {
	return `The new owner must be an active user of a connection whose org contains the account's.

Example:

    orgscim service-account reassign 3f1c2a9e-6d0b-4c1e-9a51-0f3c9b7e2d11 \
        --owner-connection acme --owner-user 0b7e5a54-2f7d-4a43-8d8c-3a2f9e1c4b60 --reason "pat left"`
}

func (serviceAccountRetireCmd) Help() string {
	return `Its grants and integration tokens are revoked in the same transaction.

Example:

    orgscim service-account retire 3f1c2a9e-6d0b-4c1e-9a51-0f3c9b7e2d11 --reason "integration replaced"`
}

func (serviceAccountGrantCmd) Help() string {
	return `Privileged roles are requested as elevations and approved by a second person
(POST /api/v1/service-accounts/{id}/elevations).

Example:

    orgscim service-account grant 3f1c2a9e-6d0b-4c1e-9a51-0f3c9b7e2d11 --role reports.viewer --org acme`
}

func (serviceAccountTokenRevokeCmd) Help() string {
	return `Example:

    orgscim service-account token revoke 3f1c2a9e-6d0b-4c1e-9a51-0f3c9b7e2d11 9d2e4f61-5b8a-4c3d-a7e0-1f2b3c4d5e6f`
}
