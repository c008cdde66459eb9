package main

// Webhook subscriptions of downstream applications, and the time their revocations
// take. Subscriptions are the vendor's configuration: the commands act as an operator.

import (
	"context"
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

func webhookCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("webhook create", stderr)
	conn := fs.String("connection", "", "slug of the connection whose events to send; empty for the control plane's (orgs, roles, admin keys)")
	target := fs.String("url", "", "http:// or https:// URL the signed events are POSTed to (required)")
	actions := fs.String("actions", "", `actions to send, comma-separated: exact ("user.delete") or prefixes ending in "." ("user.,grant."); empty for all`)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *target == "" {
		fmt.Fprintln(stderr, "webhook create: --url is required")
		return errUsage
	}
	filter, err := webhooks.ParseActions(*actions)
	if err != nil {
		return cliError(err)
	}
	if err := webhooks.ValidateURL(*target); err != nil {
		return cliError(err) // before opening, and so creating, a database
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	connID := ""
	if *conn != "" {
		c, err := db.Orgs().ConnectionBySlug(ctx, *conn)
		if err != nil {
			return cliError(err)
		}
		connID = c.ID
	}
	s, err := webhookService(db).Create(ctx, connID, *target, filter)
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"id": s.ID, "connection": *conn, "url": s.URL, "actions": s.Actions,
			"state": s.State, "secret": s.Secret})
	}
	scope := "connection " + *conn
	if *conn == "" {
		scope = "the control plane"
	}
	fmt.Fprintf(stdout, "webhook %s created for %s, actions %s\nsigning secret (shown once): %s\n",
		s.ID, scope, actionsText(s.Actions), s.Secret)
	return nil
}

func actionsText(a []string) string {
	if len(a) == 0 {
		return "all"
	}
	return strings.Join(a, ",")
}

func webhookList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("webhook list", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := webhookService(db).List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no webhook subscriptions")
		return nil
	}
	for _, s := range list {
		conn := s.ConnectionSlug
		if s.ConnectionID == "" {
			conn = "(control plane)"
		}
		fmt.Fprintf(stdout, "%s  %-8s  %s  %s  actions %s  pending %d, delivered %d, dead %d\n",
			s.ID, s.State, conn, s.URL, actionsText(s.Actions), s.Pending, s.Delivered, s.Dead)
	}
	return nil
}

func webhookDisable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("webhook disable", stderr)
	id := fs.String("id", "", "the subscription's id (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		fmt.Fprintln(stderr, "webhook disable: --id is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := webhookService(db).Disable(ctx, *id); err != nil {
		return cliError(err)
	}
	fmt.Fprintf(stdout, "webhook %s disabled; its pending deliveries are dropped\n", *id)
	return nil
}

func webhookRevocations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("webhook revocations", stderr)
	since := fs.Duration("since", 30*24*time.Hour, "over the revocations requested this long ago or later")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *since <= 0 {
		fmt.Fprintln(stderr, "webhook revocations: --since must be positive")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	ttr, err := db.Webhooks().TimeToRevoke(ctx, time.Now().Add(-*since))
	if err != nil {
		return err
	}
	if *asJSON {
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
