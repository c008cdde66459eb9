package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sessions"
)

// consoleLinkCmd prints a one-time sign-in link for an operator: the way in for
// `make run` without any IdP.
type consoleLinkCmd struct {
	Operator string `required:"" placeholder:"NAME" help:"The operator who signs in (operator:NAME in the audit trail)."`
	URL      string `default:"http://127.0.0.1:8080" env:"ORGSCIM_PUBLIC_URL" placeholder:"URL" help:"The server's address as the browser reaches it."`
	jsonFlag
}

func (consoleLinkCmd) Help() string {
	return `The link signs one browser in to the console once, as the operator, and expires
after ten minutes; it is stored only as a hash. Opening it shows a button: link
scanners that fetch the URL do not use it up. --json prints url, operator and
expires_at.

Example:

    orgscim console link --operator alice`
}

func (c *consoleLinkCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	secret, l, err := newServices(db, nil).sessions.IssueLink(env.ctx, c.Operator)
	if err != nil {
		return cliError(err)
	}
	url := strings.TrimRight(c.URL, "/") + "/console/link/" + secret
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"url": url, "operator": l.Operator, "expires_at": l.Expires.UTC().Format(time.RFC3339)})
	}
	fmt.Fprintf(env.stdout, "sign-in link for operator %s (one use, expires %s):\n%s\n", l.Operator, l.Expires.UTC().Format(time.RFC3339), url)
	return nil
}

// consoleSignInCmd configures a connection's OpenID Connect sign-in, as PUT
// /api/v1/connections/{slug}/console-sign-in does.
type consoleSignInCmd struct {
	Connection       string `required:"" placeholder:"SLUG" help:"The connection whose administrators sign in."`
	Issuer           string `required:"" placeholder:"URL" help:"The IdP's issuer URL."`
	ClientID         string `required:"" name:"client-id" placeholder:"ID" help:"The console's client id at the IdP."`
	ClientSecretFile string `required:"" name:"client-secret-file" placeholder:"PATH" help:"A file holding the client secret (- for stdin): never a flag, which ps and shell history would show."`
	Claim            string `default:"sub" enum:"sub,oid,email,preferred_username" placeholder:"CLAIM" help:"The ID token claim that finds the SCIM user: sub or oid (externalId), email or preferred_username (userName)."`
	actor
	jsonFlag
}

func (consoleSignInCmd) Help() string {
	return `Register the redirect URI https://HOST/console/sign-in/callback at the IdP; the
connection's administrators then start at /console/sign-in/SLUG. The client secret is
stored to use it and never printed again. --json prints the configuration without the
secret.

Example:

    orgscim console sign-in --connection acme --issuer https://login.microsoftonline.com/TENANT/v2.0 \
        --client-id 00000000-0000-0000-0000-000000000000 --client-secret-file secret.txt --claim oid`
}

func (c *consoleSignInCmd) Run(env *cliEnv) error {
	var raw []byte
	var err error
	if c.ClientSecretFile == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(c.ClientSecretFile)
	}
	if err != nil {
		return usagef("--client-secret-file: %v", err)
	}
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newServices(db, nil)
	conn, err := svc.dir.Connection(ctx, c.Connection)
	if err != nil {
		return cliError(err)
	}
	x, err := svc.sessions.Configure(ctx, orgs.Principal{Operator: c.name()}, conn, sessions.SignIn{Issuer: c.Issuer,
		ClientID: c.ClientID, ClientSecret: strings.TrimSpace(string(raw)), Claim: c.Claim})
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"connection": conn.Slug, "issuer": x.Issuer, "client_id": x.ClientID,
			"claim": x.Claim, "sign_in_url": "/console/sign-in/" + conn.Slug})
	}
	fmt.Fprintf(env.stdout, "connection %s: administrators sign in at /console/sign-in/%s through %s (claim %s)\n",
		conn.Slug, conn.Slug, x.Issuer, x.Claim)
	return nil
}
