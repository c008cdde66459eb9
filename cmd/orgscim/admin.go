package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
)

// asOperator puts the CLI's audit source in ctx. Whoever runs a command has the database
// and acts with the vendor's full authority, but holds no key to be named by, so the
// audit trail names the account that ran it: "operator:cli:" and the OS login name
// (os/user), else $USER, else "uid:" and the numeric user id.
func asOperator(ctx context.Context) context.Context {
	return audit.WithSource(ctx, audit.Source{Actor: "operator:cli:" + osUser()})
}

// cliOperator is the principal of whoever runs a command: an operator, named by the OS
// login as in the audit trail.
func cliOperator() orgs.Principal { return orgs.Principal{Operator: "cli:" + osUser()} }

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if name := os.Getenv("USER"); name != "" {
		return name
	}
	return "uid:" + strconv.Itoa(os.Getuid())
}

func orgCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("org create", stderr)
	name := fs.String("name", "", "the org's name (required)")
	slug := fs.String("slug", "", "URL-safe identifier; derived from the name when empty")
	parent := fs.String("parent", "", "slug of the parent org; empty for a root")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" {
		fmt.Fprintln(stderr, "org create: --name is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := newServices(db, nil).dir.CreateOrg(ctx, *name, *slug, *parent)
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"id": o.ID, "slug": o.Slug, "name": o.Name, "parent_id": o.ParentID, "status": o.Status})
	}
	fmt.Fprintf(stdout, "org %s created (id %s)\n", o.Slug, o.ID)
	return nil
}

func connectionCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("connection create", stderr)
	org := fs.String("org", "", "slug of the org the connection provisions into (required)")
	slug := fs.String("slug", "", "the {connection} URL segment; defaults to the org's slug")
	idp := fs.String("idp", orgs.IdPGeneric, "IdP kind: entra, okta or generic")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" {
		fmt.Fprintln(stderr, "connection create: --org is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	c, token, err := newServices(db, nil).dir.CreateConnection(ctx, *org, *slug, *idp)
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"id": c.ID, "slug": c.Slug, "idp": c.IdP, "token": token,
			"scim_path": "/scim/v2/" + c.Slug})
	}
	fmt.Fprintf(stdout, "connection %s created for org %s (idp %s)\nSCIM base path: /scim/v2/%s\ntoken (shown once): %s\n",
		c.Slug, *org, c.IdP, c.Slug, token)
	return nil
}

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("token create", stderr)
	conn := fs.String("connection", "", "connection slug (required)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 2160h; 0 means no expiry")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conn == "" {
		fmt.Fprintln(stderr, "token create: --connection is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	t, secret, err := newServices(db, nil).dir.IssueToken(ctx, *conn, expiryIn(*expires))
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		return printJSON(stdout, issuedJSON(*conn, t, secret))
	}
	fmt.Fprintf(stdout, "token %s issued for connection %s\ntoken (shown once): %s\n", t.ID, *conn, secret)
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

func tokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("token list", stderr)
	conn := fs.String("connection", "", "connection slug (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conn == "" {
		fmt.Fprintln(stderr, "token list: --connection is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens, err := newServices(db, nil).dir.Tokens(ctx, *conn)
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
	var rows []row
	for _, t := range tokens {
		rows = append(rows, row{t.ID, t.Hint + "…", t.Created.Format(time.RFC3339), fmtp(t.Expires), fmtp(t.Revoked), fmtp(t.LastUsed), t.Usable(now)})
	}
	if *asJSON {
		return printJSON(stdout, rows)
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
		fmt.Fprintf(stdout, "%s  %s  %s  created %s  last used %s\n", r.ID, r.Hint, state, r.Created, last)
	}
	return nil
}

func tokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("token revoke", stderr)
	conn := fs.String("connection", "", "connection slug (required)")
	id := fs.String("id", "", "token id, as `token list` shows (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conn == "" || *id == "" {
		fmt.Fprintln(stderr, "token revoke: --connection and --id are required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newServices(db, nil).dir.RevokeToken(ctx, *conn, *id); err != nil {
		return cliError(err)
	}
	fmt.Fprintf(stdout, "token %s revoked\n", *id)
	return nil
}
