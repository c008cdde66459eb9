package main

// orgscim review: access reviews from the terminal, for operators. Reviewers decide
// items through the admin API (/api/v1/reviews); the CLI starts, lists and shows
// reviews, and closes those past their deadline at once instead of at the next
// reconciler pass.

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orgscim/orgscim/orgs"
)

// cliOperator is the principal of an operator at the terminal.
func reviewCmd(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	switch sub {
	case "create":
		return reviewCreate(ctx, args, stdout, stderr)
	case "list":
		return reviewList(ctx, args, stdout, stderr)
	case "show":
		return reviewShow(ctx, args, stdout, stderr)
	case "close-due":
		return reviewCloseDue(ctx, args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "orgscim: unknown command \"review %s\"\n\n%s", sub, usage)
	return errUsage
}

// parseDeadline reads an RFC 3339 time, or a duration from now ("336h").
func parseDeadline(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--deadline: want an RFC 3339 time or a duration such as 336h, got %q", s)
	}
	return t, nil
}

func reviewCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("review create", stderr)
	org := fs.String("org", "", "slug of the org whose subtree is reviewed (required)")
	name := fs.String("name", "", "the review's name (required)")
	description := fs.String("description", "", "what the review is for")
	deadline := fs.String("deadline", "", "RFC 3339 time, or a duration from now such as 336h (required)")
	asJSON := fs.Bool("json", false, "print JSON, as GET /api/v1/reviews/{id} answers")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" || *name == "" || *deadline == "" {
		fmt.Fprintln(stderr, "review create: --org, --name and --deadline are required")
		return errUsage
	}
	due, err := parseDeadline(*deadline, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "review create:", err)
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := db.Orgs().OrgBySlug(ctx, *org)
	if err != nil {
		return cliError(err)
	}
	r, err := newServices(db, nil).reviews.StartReview(ctx, cliOperator(), o.ID, *name, *description, due)
	if err != nil {
		return cliError(err)
	}
	return printReview(stdout, r, o.Slug, *asJSON)
}

func reviewList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("review list", stderr)
	org := fs.String("org", "", "only the reviews on orgs of this org's subtree")
	state := fs.String("state", "", "open, closed or cancelled")
	asJSON := fs.Bool("json", false, "print JSON lines, one review each")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var o *orgs.Org
	if *org != "" {
		if o, err = db.Orgs().OrgBySlug(ctx, *org); err != nil {
			return cliError(err)
		}
	}
	svc := newServices(db, nil)
	slugs := map[string]string{}
	for after := ""; ; {
		page, err := svc.reviews.List(ctx, cliOperator(), o, *state, after, 500)
		if err != nil {
			return cliError(err)
		}
		for _, r := range page {
			if slugs[r.OrgID] == "" {
				ro, err := db.Orgs().OrgByID(ctx, r.OrgID)
				if err != nil {
					return cliError(err)
				}
				slugs[r.OrgID] = ro.Slug
			}
			if *asJSON {
				if err := printJSON(stdout, reviewView(r, slugs[r.OrgID])); err != nil {
					return err
				}
				continue
			}
			c := r.Counts
			fmt.Fprintf(stdout, "%s  %-9s %-20s due %s  %d items: %d confirmed, %d revoked, %d revoked at deadline, %d pending  %s\n",
				r.ID, r.State, slugs[r.OrgID], r.Deadline.Format(time.RFC3339), c.Items, c.Confirmed, c.Revoked,
				c.RevokedAtDeadline, c.Pending, r.Name)
		}
		if len(page) < 500 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

func reviewShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("review show", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := argAndFlags(fs, args, "REVIEW", stderr)
	if err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := newServices(db, nil).reviews.ReviewFor(ctx, cliOperator(), id)
	if err != nil {
		return cliError(err)
	}
	o, err := db.Orgs().OrgByID(ctx, r.OrgID)
	if err != nil {
		return cliError(err)
	}
	return printReview(stdout, r, o.Slug, *asJSON)
}

func reviewCloseDue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("review close-due", stderr)
	dry := fs.Bool("dry-run", false, "print what would be revoked and closed, change nothing")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	// No reconciler lock: a batch revokes only what is still pending and live, and a
	// review is closed only while open, so this may run beside a pass (or another
	// close-due) and neither does anything twice.
	var revoked []string
	res, err := newServices(db, nil).reviews.CloseDue(ctx, orgs.CloseOptions{DryRun: *dry,
		Revoked: func(_ *orgs.Review, g *orgs.Grant) { revoked = append(revoked, g.ID) }})
	if *asJSON {
		if perr := printJSON(stdout, map[string]any{"dry_run": *dry, "closed": nonNil(res.Closed), "revoked": res.Revoked,
			"revoked_grant_ids": nonNil(revoked)}); perr != nil && err == nil {
			err = perr
		}
	} else {
		what := "closed"
		if *dry {
			what = "would close (dry run: nothing changed)"
		}
		fmt.Fprintf(stdout, "%s %d review(s) past their deadline; %d unconfirmed grant(s) revoked\n", what, len(res.Closed), res.Revoked)
		for _, id := range res.Closed {
			fmt.Fprintln(stdout, "  review", id)
		}
	}
	return cliError(err)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// reviewView is a review as the CLI prints it in JSON: the admin API's names.
func reviewView(r *orgs.Review, orgSlug string) map[string]any {
	c := r.Counts
	return map[string]any{"id": r.ID, "org": orgSlug, "name": r.Name, "description": r.Description, "created_by": r.CreatedBy,
		"created_at": r.Created, "deadline": r.Deadline, "state": r.State, "ended_by": r.EndedBy, "ended_at": r.Ended,
		"counts": map[string]int{"items": c.Items, "excluded_mapping_grants": c.ExcludedMapping, "confirmed": c.Confirmed,
			"revoked": c.Revoked, "revoked_at_deadline": c.RevokedAtDeadline, "pending": c.Pending, "lapsed": c.Lapsed}}
}

func printReview(w io.Writer, r *orgs.Review, orgSlug string, asJSON bool) error {
	if asJSON {
		return printJSON(w, reviewView(r, orgSlug))
	}
	c := r.Counts
	_, err := fmt.Fprintf(w, "review %s (%s) on %s: %s, due %s\n  %d items (%d mapping grants left out): %d confirmed, %d revoked, "+
		"%d revoked at the deadline, %d pending, %d lapsed\n", r.ID, r.Name, orgSlug, r.State, r.Deadline.Format(time.RFC3339),
		c.Items, c.ExcludedMapping, c.Confirmed, c.Revoked, c.RevokedAtDeadline, c.Pending, c.Lapsed)
	return err
}
