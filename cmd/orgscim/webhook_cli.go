package main

// Webhook subscriptions of downstream applications, and the time their revocations
// take. Subscriptions are the vendor's configuration: the commands act as an operator.

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/webhooks"
)

func webhookService(db *sqlstore.DB) *webhooks.Subscriptions {
	return &webhooks.Subscriptions{Store: db.Webhooks(), Tx: db, Audit: db.Audit(), NewID: provisioning.NewID}
}

type webhookCreateCmd struct {
	Connection string `placeholder:"SLUG" help:"Slug of the connection whose events to send; empty for the control plane's (orgs, roles, admin keys)."`
	URL        string `name:"url" required:"" help:"http:// or https:// URL the signed events are POSTed to."`
	Actions    string `placeholder:"user.,grant." help:"Actions to send, comma-separated: exact (user.delete) or prefixes ending in \".\" (user.,grant.); empty for all."`
	Format     string `default:"standard" enum:"standard,orgscim" help:"Signature format: standard (Standard Webhooks) or orgscim (Orgscim-Signature, for receivers not yet moved)."`
	actor
	jsonFlag
}

func (webhookCreateCmd) Help() string {
	return `Prints the signing secret once. Each event is POSTed as JSON, retried with backoff, at
least once, signed per Standard Webhooks (webhook-id, webhook-timestamp,
webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">), or with
--format orgscim as Orgscim-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>. Receivers verify with the recipes in the README.

Example:

    orgscim webhook create --connection acme --url https://app.example/hooks/orgscim --actions user.,grant.`
}

func (c *webhookCreateCmd) Run(env *cliEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	ctx := c.ctx(env.ctx)
	filter, err := webhooks.ParseActions(c.Actions)
	if err != nil {
		return cliError(err)
	}
	if err := webhooks.ValidateURL(c.URL); err != nil {
		return cliError(err) // before opening, and so creating, a database
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	connID := ""
	if c.Connection != "" {
		conn, err := db.Orgs().ConnectionBySlug(ctx, c.Connection)
		if err != nil {
			return cliError(err)
		}
		connID = conn.ID
	}
	s, err := webhookService(db).Create(ctx, connID, c.URL, filter, c.Format)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": s.ID, "connection": c.Connection, "url": s.URL, "actions": s.Actions,
			"state": s.State, "format": s.Format, "secret": s.Secret})
	}
	scope := "connection " + c.Connection
	if c.Connection == "" {
		scope = "the control plane"
	}
	fmt.Fprintf(env.stdout, "webhook %s created for %s, actions %s, format %s\nsigning secret (shown once): %s\n",
		s.ID, scope, actionsText(s.Actions), s.Format, s.Secret)
	return nil
}

func actionsText(a []string) string {
	if len(a) == 0 {
		return "all"
	}
	return strings.Join(a, ",")
}

type webhookListCmd struct {
	jsonFlag
}

func (webhookListCmd) Help() string {
	return `One line per subscription: id, state, connection, URL, actions and its deliveries
(pending, delivered, dead). A subscription with deliveries waiting shows a second line:
the error of the delivery due next (or of the last one that died), its attempts so far
and when it is tried again; 15 failed attempts make a delivery dead.

Example:

    orgscim webhook list
    orgscim webhook list --json`
}

func (c *webhookListCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := webhookService(db).List(env.ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		if list == nil {
			list = []webhooks.Subscription{}
		}
		return printJSON(env.stdout, list)
	}
	printSubscriptions(env.stdout, list, time.Now())
	return nil
}

// printSubscriptions prints each subscription and, where deliveries wait or died, why
// and when they are tried next, relative to now.
func printSubscriptions(w io.Writer, list []webhooks.Subscription, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no webhook subscriptions")
		return
	}
	for _, s := range list {
		conn := s.ConnectionSlug
		if s.ConnectionID == "" {
			conn = "(control plane)"
		}
		fmt.Fprintf(w, "%s  %-8s  %s  %s  actions %s  format %s  pending %d, delivered %d, dead %d\n",
			s.ID, s.State, conn, s.URL, actionsText(s.Actions), s.Format, s.Pending, s.Delivered, s.Dead)
		var parts []string
		if s.LastError != "" {
			parts = append(parts, "last error: "+s.LastError)
		}
		if s.Attempts > 0 && s.NextAttemptAt != nil {
			parts = append(parts, fmt.Sprintf("%d attempt(s) so far", s.Attempts))
		}
		if at := s.NextAttemptAt; at != nil {
			when := "now"
			if d := at.Sub(now); d > 0 {
				when = "in " + d.Round(time.Second).String()
			}
			parts = append(parts, fmt.Sprintf("next attempt %s (%s)", at.Format(time.RFC3339), when))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "    %s\n", strings.Join(parts, "; "))
		}
	}
}

type webhookDisableCmd struct {
	ID string `name:"id" required:"" help:"The subscription's id."`
	actor
	jsonFlag
}

func (webhookDisableCmd) Help() string {
	return `Its pending deliveries are dropped (dead); its history stays.

Example:

    orgscim webhook disable --id 9e2b1f0c-5a4d-4c3b-8e7f-6a5b4c3d2e1f`
}

func (c *webhookDisableCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := webhookService(db).Disable(ctx, c.ID); err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": c.ID, "state": webhooks.Disabled})
	}
	fmt.Fprintf(env.stdout, "webhook %s disabled; its pending deliveries are dropped\n", c.ID)
	return nil
}

type webhookUpdateCmd struct {
	ID     string `name:"id" required:"" help:"The subscription's id."`
	Format string `required:"" enum:"standard,orgscim" help:"Signature format from the next attempt on: standard or orgscim."`
	actor
	jsonFlag
}

func (webhookUpdateCmd) Help() string {
	return `Moves a subscription between the signature formats, keeping its secret: a receiver
switches to a Standard Webhooks verifier, then the subscription follows (or back, during
the migration window). Deliveries still pending are signed the new way.

Example:

    orgscim webhook update --id 9e2b1f0c-5a4d-4c3b-8e7f-6a5b4c3d2e1f --format standard`
}

func (c *webhookUpdateCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := webhookService(db).SetFormat(ctx, c.ID, c.Format); err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": c.ID, "format": c.Format})
	}
	fmt.Fprintf(env.stdout, "webhook %s now signs in the %s format\n", c.ID, c.Format)
	return nil
}

type webhookRevocationsCmd struct {
	Since time.Duration `default:"720h" placeholder:"DURATION" help:"Over the revocations requested this long ago or later."`
	jsonFlag
}

func (webhookRevocationsCmd) Help() string {
	return `Per connection: revocations acknowledged by every subscriber, their time to revoke
(p50, max, latest: from the IdP's or operator's request to the last subscriber's
acknowledgement), and those still unacknowledged.

Example:

    orgscim webhook revocations --since 168h`
}

func (c *webhookRevocationsCmd) Run(env *cliEnv) error {
	if c.Since <= 0 {
		return usagef("--since must be positive")
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	ttr, err := db.Webhooks().TimeToRevoke(env.ctx, time.Now().Add(-c.Since))
	if err != nil {
		return err
	}
	stdout := env.stdout
	if c.JSON {
		out := make([]map[string]any, len(ttr))
		for i, t := range ttr {
			out[i] = map[string]any{"chain": t.Chain, "connection": t.Connection, "revocations": t.Revocations,
				"unacknowledged": t.Unacknowledged, "p50_seconds": t.P50.Seconds(), "max_seconds": t.Max.Seconds(),
				"latest_seconds": t.Latest.Seconds(), "latest_requested_at": nil}
			if !t.LatestAt.IsZero() {
				out[i]["latest_requested_at"] = t.LatestAt.Format(time.RFC3339)
			}
		}
		return printJSON(stdout, out)
	}
	if len(ttr) == 0 {
		fmt.Fprintln(stdout, "no revocations with subscribers in the period")
		return nil
	}
	for _, t := range ttr {
		name := t.Connection
		if name == "" {
			name = t.Chain
		}
		fmt.Fprintf(stdout, "%s: %d acknowledged by every subscriber (time to revoke p50 %s, max %s, latest %s), %d still unacknowledged\n",
			name, t.Revocations, t.P50.Round(time.Millisecond), t.Max.Round(time.Millisecond),
			t.Latest.Round(time.Millisecond), t.Unacknowledged)
	}
	return nil
}
