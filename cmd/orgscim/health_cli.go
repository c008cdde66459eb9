package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/orgs"
)

// connectionHealth prints what GET /api/v1/connections/{slug}/health and /requests
// answer: the figures, the rotation, the tokens about to lapse and the last requests.
func connectionHealth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("connection health", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	last := fs.Int("last", 10, "how many of the last requests to show, up to 50")
	warn := fs.Duration("token-expiry-warning", orgs.DefaultTokenExpiryWarning, "warn of tokens that lapse within this")
	// The slug may come before or after the flags.
	slug := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		slug, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if slug == "" && fs.NArg() == 1 {
		slug = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if slug == "" || *last < 0 || *last > connhealth.Keep {
		fmt.Fprintln(stderr, "usage: orgscim connection health SLUG [--last N (0 to 50)] [--json]")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
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

// tokenRotate starts, completes or cancels a connection's token rotation.
func tokenRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	step := ""
	if len(args) > 0 {
		step, args = args[0], args[1:]
	}
	if step != "start" && step != "complete" && step != "cancel" {
		fmt.Fprintln(stderr, "usage: orgscim token rotate start|complete|cancel --connection SLUG [--expires DURATION] [--force] [--json]")
		return errUsage
	}
	fs, dbURL := newFlags("token rotate "+step, stderr)
	conn := fs.String("connection", "", "connection slug (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	var expires *time.Duration
	var force *bool
	switch step {
	case "start":
		expires = fs.Duration("expires", 0, "the new token's lifetime, e.g. 2160h; 0 means no expiry")
	case "complete":
		force = fs.Bool("force", false, "revoke the old tokens even though the new one has not been used yet")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conn == "" {
		fmt.Fprintf(stderr, "token rotate %s: --connection is required\n", step)
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	dir := newServices(db, nil).dir
	if step == "start" {
		r, t, secret, err := dir.StartRotation(ctx, *conn, expiryIn(*expires))
		if err != nil {
			return cliError(err)
		}
		if *asJSON {
			out := issuedJSON(*conn, t, secret)
			out["started_at"] = r.Started.Format(time.RFC3339)
			return printJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "rotation started for connection %s: new token %s works beside the old one\n"+
			"token (shown once): %s\nput it into the IdP, then: orgscim token rotate complete --connection %s\n", *conn, t.ID, secret, *conn)
		return nil
	}
	var r *orgs.RotationResult
	if step == "complete" {
		r, err = dir.CompleteRotation(ctx, *conn, *force)
	} else {
		r, err = dir.CancelRotation(ctx, *conn)
	}
	if err != nil {
		return cliError(err)
	}
	revoked := append([]string{}, r.Revoked...)
	if *asJSON {
		return printJSON(stdout, map[string]any{"connection": *conn, "new_token_id": r.Rotation.TokenID, "revoked_token_ids": revoked})
	}
	verb := map[string]string{"complete": "completed", "cancel": "cancelled"}[step]
	fmt.Fprintf(stdout, "rotation %s for connection %s; revoked: %s\n", verb, *conn, strings.Join(revoked, ", "))
	return nil
}
