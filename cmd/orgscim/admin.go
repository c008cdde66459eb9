package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// actor is the --as flag of the commands that change something. Whoever runs a command
// has the database and acts with the vendor's full authority, but holds no key to be
// named by, so the audit trail names the account that ran it: "operator:cli:" and the OS
// login name (os/user), else $USER, else "uid:" and the numeric user id. --as NAME names
// the operator instead, as "operator:NAME" — the name an operator key of NAME acts under
// on the admin API — so that two operators sharing one account (or a runbook run by a
// bot) keep four eyes: approving one's own onboarding proposal stays refused, whichever
// way each step was taken. The OS account is still recorded, as the events' client
// address ("cli:<OS user>").
type actor struct {
	As string `placeholder:"NAME" help:"Act, and be audited, as the operator NAME (operator:NAME, as NAME's admin API key does) instead of operator:cli:<OS user>."`
}

// name is the operator's name: NAME of --as, else "cli:<OS user>".
func (a actor) name() string {
	if a.As != "" {
		return a.As
	}
	return "cli:" + osUser()
}

// ctx puts the operator's audit source in ctx.
func (a actor) ctx(ctx context.Context) context.Context {
	src := audit.Source{Actor: "operator:" + a.name()}
	if a.As != "" {
		src.ClientAddr = "cli:" + osUser()
	}
	return audit.WithSource(ctx, src)
}

// act starts a command that changes something: it checks --as, opens the database and
// returns the context with the operator's audit source.
func (a actor) act(env *cliEnv) (context.Context, *sqlstore.DB, error) {
	if err := a.validate(); err != nil {
		return nil, nil, err
	}
	db, err := env.open()
	if err != nil {
		return nil, nil, err
	}
	return a.ctx(env.ctx), db, nil
}

// principal is the operator as the domain's authority checks see it.
func (a actor) principal() orgs.Principal { return orgs.Principal{Operator: a.name()} }

// validate refuses an --as name that would be confused with another kind of actor.
func (a actor) validate() error {
	if a.As != "" && (strings.TrimSpace(a.As) != a.As || strings.ContainsAny(a.As, ":\n\t") || len(a.As) > 100) {
		return usagef("--as %q: an operator name has no colon, control character or surrounding space, and at most 100 characters", a.As)
	}
	return nil
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return "uid:" + strconv.Itoa(os.Getuid())
}

// jsonFlag is --json of the commands that print a result.
type jsonFlag struct {
	JSON bool `name:"json" help:"Print the result as JSON."`
}

type orgCreateCmd struct {
	Name   string `required:"" placeholder:"NAME" help:"The org's name."`
	Slug   string `placeholder:"SLUG" help:"URL-safe identifier, 1-63 of a-z 0-9 -; derived from the name when empty."`
	Parent string `placeholder:"SLUG" help:"Slug of the parent org; empty for a root."`
	actor
	jsonFlag
}

func (orgCreateCmd) Help() string {
	return `The slug is derived from the name when omitted (lower case, other characters
collapsed to -). --parent places the org under another one.

Example:

    orgscim org create --name "Acme" --slug acme
    orgscim org create --name "Acme EMEA" --parent acme --json`
}

func (c *orgCreateCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := newServices(db, nil).dir.CreateOrg(ctx, c.Name, c.Slug, c.Parent)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": o.ID, "slug": o.Slug, "name": o.Name, "parent_id": o.ParentID, "status": o.Status})
	}
	fmt.Fprintf(env.stdout, "org %s created (id %s)\n", o.Slug, o.ID)
	return nil
}

type connectionCreateCmd struct {
	Org  string `required:"" placeholder:"SLUG" help:"Slug of the org the connection provisions into."`
	Slug string `placeholder:"SLUG" help:"The {connection} URL segment; defaults to the org's slug."`
	IdP  string `name:"idp" default:"generic" placeholder:"entra|okta|generic" completion:"entra okta generic" help:"The IdP's dialect: entra, okta or generic."`
	actor
	jsonFlag
}

func (connectionCreateCmd) Help() string {
	return `Issues the connection's first token, printed once. --json prints id, slug, idp,
token and scim_path.

Example:

    orgscim connection create --org acme --idp entra --json`
}

func (c *connectionCreateCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, token, err := newServices(db, nil).dir.CreateConnection(ctx, c.Org, c.Slug, c.IdP)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": conn.ID, "slug": conn.Slug, "idp": conn.IdP, "token": token,
			"scim_path": "/scim/v2/" + conn.Slug})
	}
	fmt.Fprintf(env.stdout, "connection %s created for org %s (idp %s)\nSCIM base path: /scim/v2/%s\ntoken (shown once): %s\n",
		conn.Slug, c.Org, conn.IdP, conn.Slug, token)
	return nil
}

type tokenCreateCmd struct {
	Connection string        `required:"" placeholder:"SLUG" help:"The connection's slug."`
	Expires    time.Duration `placeholder:"DURATION" help:"Lifetime, e.g. 2160h (90 days); 0 means no expiry."`
	actor
	jsonFlag
}

func (tokenCreateCmd) Help() string {
	return `A connection holds at most two usable tokens. --json prints id, token, connection
and expires_at.

Example:

    orgscim token create --connection acme --expires 2160h --json`
}

func (c *tokenCreateCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	t, secret, err := newServices(db, nil).dir.IssueToken(ctx, c.Connection, expiryIn(c.Expires))
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, issuedJSON(c.Connection, t, secret))
	}
	fmt.Fprintf(env.stdout, "token %s issued for connection %s\ntoken (shown once): %s\n", t.ID, c.Connection, secret)
	return nil
}

// expiryIn is the expiry of a token with the lifetime of an --expires flag; nil, no
// expiry, for 0.
func expiryIn(lifetime time.Duration) *time.Time {
	if lifetime <= 0 {
		return nil
	}
	t := time.Now().Add(lifetime)
	return &t
}

// issuedJSON is what --json prints of a token issued for a connection, secret included.
func issuedJSON(conn string, t *orgs.Token, secret string) map[string]any {
	out := map[string]any{"id": t.ID, "token": secret, "connection": conn}
	if t.Expires != nil {
		out["expires_at"] = t.Expires.Format(time.RFC3339)
	}
	return out
}

type tokenListCmd struct {
	Connection string `required:"" placeholder:"SLUG" help:"The connection's slug."`
	jsonFlag
}

func (tokenListCmd) Help() string {
	return `One line per token with id, hint (its first 12 characters), state, creation and
last use.

Example:

    orgscim token list --connection acme`
}

func (c *tokenListCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	tokens, err := newServices(db, nil).dir.Tokens(env.ctx, c.Connection)
	if err != nil {
		return cliError(err)
	}
	now := time.Now()
	type row struct {
		ID       string  `json:"id"`
		Hint     string  `json:"hint"`
		Created  string  `json:"created_at"`
		Expires  *string `json:"expires_at"`
		Revoked  *string `json:"revoked_at"`
		LastUsed *string `json:"last_used_at"`
		Usable   bool    `json:"usable"`
	}
	fmtp := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := t.Format(time.RFC3339)
		return &s
	}
	rows := []row{}
	for _, t := range tokens {
		rows = append(rows, row{t.ID, t.Hint + "…", t.Created.Format(time.RFC3339), fmtp(t.Expires), fmtp(t.Revoked), fmtp(t.LastUsed), t.Usable(now)})
	}
	if c.JSON {
		return printJSON(env.stdout, rows)
	}
	for _, r := range rows {
		state := "usable"
		if !r.Usable {
			state = "unusable"
		}
		last := "never"
		if r.LastUsed != nil {
			last = *r.LastUsed
		}
		fmt.Fprintf(env.stdout, "%s  %s  %s  created %s  last used %s\n", r.ID, r.Hint, state, r.Created, last)
	}
	return nil
}

type tokenRevokeCmd struct {
	Connection string `required:"" placeholder:"SLUG" help:"The connection's slug."`
	ID         string `name:"id" required:"" placeholder:"TOKEN_ID" help:"The token's id, as orgscim token list shows it."`
	actor
	jsonFlag
}

func (tokenRevokeCmd) Help() string {
	return `Revocation takes effect on the next request.

Example:

    orgscim token list --connection acme
    orgscim token revoke --connection acme --id 0b6c3c1e-7f0e-4c55-9d1c-2f1f8f7a9e11`
}

func (c *tokenRevokeCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newServices(db, nil).dir.RevokeToken(ctx, c.Connection, c.ID); err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": c.ID, "connection": c.Connection, "revoked": true})
	}
	fmt.Fprintf(env.stdout, "token %s revoked\n", c.ID)
	return nil
}

// cliPrincipal is whoever runs a command that only reads: the operator named by the OS
// login, as in the audit trail.
func cliPrincipal() orgs.Principal { return actor{}.principal() }
