package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/orgs"
)

// connectionHealthCmd prints what GET /api/v1/connections/{slug}/health and /requests
// answer: the figures, the rotation, the tokens about to lapse and the last requests.
type connectionHealthCmd struct {
	Slug               string        `arg:"" name:"SLUG" help:"The connection's slug."`
	Last               int           `default:"10" placeholder:"N" help:"How many of the last requests to show, 0 to 50."`
	TokenExpiryWarning time.Duration `default:"${token_expiry_warning}" placeholder:"DURATION" help:"Warn of tokens that lapse within this."`
	jsonFlag
}

func (connectionHealthCmd) Help() string {
	return `A running server stores what it recorded about once a second, so the last second
may be missing. --json prints the health object of the admin API with last_requests.

Example:

    orgscim connection health acme --last 20`
}

func (c *connectionHealthCmd) Run(env *cliEnv) error {
	if c.Last < 0 || c.Last > connhealth.Keep {
		return usagef("--last must be 0 to %d", connhealth.Keep)
	}
	ctx, stdout, slug, last, warn, asJSON := env.ctx, env.stdout, c.Slug, &c.Last, &c.TokenExpiryWarning, &c.JSON
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	dir := newServices(db, nil).dir
	conn, err := dir.Connection(ctx, slug)
	if err != nil {
		return cliError(err)
	}
	h, err := adminapi.HealthOf(ctx, dir, db.Health(), conn, time.Now().UTC(), *warn)
	if err != nil {
		return cliError(err)
	}
	reqs := adminapi.RequestLog{Connection: slug, Items: []adminapi.LoggedRequest{}}
	if *last > 0 {
		if reqs, err = adminapi.RequestLogOf(ctx, db.Health(), conn, *last); err != nil {
			return cliError(err)
		}
	}
	if *asJSON {
		return printJSON(stdout, struct {
			adminapi.ConnectionHealth
			LastRequests []adminapi.LoggedRequest `json:"last_requests"`
		}{h, reqs.Items})
	}
	when := func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "connection %s (%s)\n", h.Connection, h.Status)
	fmt.Fprintf(stdout, "requests %d, client errors (4xx) %d, server errors (5xx) %d\n", h.Requests, h.ClientErrors, h.ServerErrors)
	fmt.Fprintf(stdout, "last request %s, last push %s, last success %s, last error %s\n",
		when(h.LastRequestAt), when(h.LastPushAt), when(h.LastSuccessAt), when(h.LastErrorAt))
	fmt.Fprintf(stdout, "refused (wrong, revoked or expired token) %d, last %s\n", h.Rejected, when(h.LastRejectedAt))
	fmt.Fprintf(stdout, "usable tokens %d\n", h.UsableTokens)
	if r := h.Rotation; r != nil {
		used := "not used yet"
		if r.NewTokenUsed {
			used = "used: ready to complete"
		}
		fmt.Fprintf(stdout, "token rotation in progress since %s: new token %s, %s\n", r.StartedAt.Format(time.RFC3339), r.NewTokenID, used)
	}
	for _, w := range h.TokenWarnings {
		fmt.Fprintf(stdout, "WARNING token %s (%s…) expires %s, in %s\n", w.TokenID, w.Hint, w.ExpiresAt.Format(time.RFC3339),
			(time.Duration(w.ExpiresInSeconds) * time.Second).Round(time.Minute))
	}
	for _, l := range reqs.Items {
		line := fmt.Sprintf("%s  %s %s  %d  %.1fms  %s", l.At.Format(time.RFC3339), l.Method, l.Path, l.Status, l.LatencyMs, l.RequestID)
		if l.Status >= 400 {
			line += "  " + strings.TrimSpace(l.ScimType+" "+l.Detail)
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

type tokenRotateStartCmd struct {
	Connection string        `required:"" placeholder:"SLUG" help:"The connection's slug."`
	Expires    time.Duration `placeholder:"DURATION" help:"The new token's lifetime, e.g. 2160h; 0 means no expiry."`
	actor
	jsonFlag
}

func (tokenRotateStartCmd) Help() string {
	return `Issues a new token, printed once, that works beside the old one. Put it into the
IdP, then complete. --json prints id, token, connection, started_at (and expires_at).

Example:

    orgscim token rotate start --connection acme --expires 2160h`
}

func (c *tokenRotateStartCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	r, t, secret, err := newServices(db, nil).dir.StartRotation(ctx, c.Connection, expiryIn(c.Expires))
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		out := issuedJSON(c.Connection, t, secret)
		out["started_at"] = r.Started.Format(time.RFC3339)
		return printJSON(env.stdout, out)
	}
	fmt.Fprintf(env.stdout, "rotation started for connection %s: new token %s works beside the old one\n"+
		"token (shown once): %s\nput it into the IdP, then: orgscim token rotate complete --connection %s\n", c.Connection, t.ID, secret, c.Connection)
	return nil
}

type tokenRotateCompleteCmd struct {
	Connection string `required:"" placeholder:"SLUG" help:"The connection's slug."`
	Force      bool   `help:"Revoke the old tokens even though the new one has not been used yet."`
	actor
	jsonFlag
}

func (tokenRotateCompleteCmd) Help() string {
	return `Refused until the IdP has made one request with the new token, because a partner
that has not switched yet would be cut off mid-sync; --force completes anyway (e.g. the
old token leaked). Prints the ids revoked.

Example:

    orgscim token rotate complete --connection acme`
}

func (c *tokenRotateCompleteCmd) Run(env *cliEnv) error {
	return rotationStep(env, c.actor, c.Connection, c.JSON, "completed", func(dir *orgs.Directory, ctx context.Context) (*orgs.RotationResult, error) {
		return dir.CompleteRotation(ctx, c.Connection, c.Force)
	})
}

type tokenRotateCancelCmd struct {
	Connection string `required:"" placeholder:"SLUG" help:"The connection's slug."`
	actor
	jsonFlag
}

func (tokenRotateCancelCmd) Help() string {
	return `Revokes the rotation's new token and keeps the old. Prints the ids revoked.

Example:

    orgscim token rotate cancel --connection acme`
}

func (c *tokenRotateCancelCmd) Run(env *cliEnv) error {
	return rotationStep(env, c.actor, c.Connection, c.JSON, "cancelled", func(dir *orgs.Directory, ctx context.Context) (*orgs.RotationResult, error) {
		return dir.CancelRotation(ctx, c.Connection)
	})
}

// rotationStep completes or cancels a rotation and prints the tokens it revoked.
func rotationStep(env *cliEnv, a actor, conn string, asJSON bool, verb string,
	step func(*orgs.Directory, context.Context) (*orgs.RotationResult, error)) error {
	if err := a.validate(); err != nil {
		return err
	}
	ctx := a.ctx(env.ctx)
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := step(newServices(db, nil).dir, ctx)
	if err != nil {
		return cliError(err)
	}
	revoked := append([]string{}, r.Revoked...)
	if asJSON {
		return printJSON(env.stdout, map[string]any{"connection": conn, "new_token_id": r.Rotation.TokenID, "revoked_token_ids": revoked})
	}
	fmt.Fprintf(env.stdout, "rotation %s for connection %s; revoked: %s\n", verb, conn, strings.Join(revoked, ", "))
	return nil
}
