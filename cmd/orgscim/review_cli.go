package main

// orgscim review: access reviews from the terminal, for operators. Reviewers decide
// items through the admin API (/api/v1/reviews); the CLI starts, lists and shows
// reviews, and closes those past their deadline at once instead of at the next
// reconciler pass.

import (
	"fmt"
	"io"
	"time"

	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reviews"
)

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

type reviewCreateCmd struct {
	JSON        bool   `name:"json" help:"Print JSON, as GET /api/v1/reviews/{id} answers."`
	Org         string `required:"" placeholder:"SLUG" help:"Slug of the org whose subtree is reviewed."`
	Name        string `required:"" help:"The review's name."`
	Deadline    string `required:"" placeholder:"RFC3339|DURATION" help:"RFC 3339 time, or a duration from now such as 336h."`
	Description string `placeholder:"TEXT" help:"What the review is for."`
	actor
}

func (reviewCreateCmd) Help() string {
	return `Every grant live in the subtree now becomes an item, a service account's as a person's
(review show --items names the account and its owner); reviewers confirm or revoke each
through the admin API (/api/v1/reviews) by the deadline, after which the reconciler
revokes what is still pending. Grants from mappings are left out (their review is the
mapping's).

Example:

    orgscim review create --org acme --name "Q3 access review" --deadline 336h`
}

func (c *reviewCreateCmd) Run(env *cliEnv) error {
	due, err := parseDeadline(c.Deadline, time.Now())
	if err != nil {
		return usagef("%v", err)
	}
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := db.Orgs().OrgBySlug(ctx, c.Org)
	if err != nil {
		return cliError(err)
	}
	r, err := newServices(db, nil).reviews.StartReview(ctx, c.principal(), o.ID, c.Name, c.Description, due)
	if err != nil {
		return cliError(err)
	}
	return printReview(env.stdout, r, o.Slug, c.JSON)
}

type reviewListCmd struct {
	JSON  bool   `name:"json" help:"Print JSON lines, one review each."`
	Org   string `placeholder:"SLUG" help:"Only the reviews on orgs of this org's subtree."`
	State string `placeholder:"open|closed|cancelled" completion:"open closed cancelled" help:"Only the reviews in this state."`
}

func (reviewListCmd) Help() string {
	return `Example:

    orgscim review list --org acme --state open`
}

func (c *reviewListCmd) Run(env *cliEnv) error {
	ctx, stdout := env.ctx, env.stdout
	org, state, asJSON := &c.Org, &c.State, &c.JSON
	db, err := env.open()
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
		page, err := svc.reviews.List(ctx, cliPrincipal(), o, *state, after, 500)
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

type reviewShowCmd struct {
	Review string `arg:"" name:"REVIEW" help:"The review's id."`
	Items  bool   `help:"Also list its lines, as GET /api/v1/reviews/{id}/items: who holds which role on which org and the decision; a service account's line names the account and its owner."`
	// The API's ?decision= filter and the console's, from the terminal.
	Decision string `enum:",pending,confirmed,revoked,lapsed" default:"" placeholder:"pending|confirmed|revoked|lapsed" help:"With --items, only the lines of this decision: pending (undecided, grant live), confirmed, revoked or lapsed (undecided, grant ended)."`
	jsonFlag
}

func (reviewShowCmd) Help() string {
	return `Example:

    orgscim review show 7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f --items --json
    orgscim review show 7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f --items --decision pending`
}

func (c *reviewShowCmd) Run(env *cliEnv) error {
	ctx, stdout, id, asJSON := env.ctx, env.stdout, c.Review, &c.JSON
	if c.Decision != "" && !c.Items {
		return usagef("--decision filters the lines of --items; give --items too")
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := newServices(db, nil).reviews.ReviewFor(ctx, cliPrincipal(), id)
	if err != nil {
		return cliError(err)
	}
	o, err := db.Orgs().OrgByID(ctx, r.OrgID)
	if err != nil {
		return cliError(err)
	}
	if c.Items {
		return printReviewItems(ctx, stdout, db, r, o.Slug, c.Decision, *asJSON)
	}
	return printReview(stdout, r, o.Slug, *asJSON)
}

type reviewCloseDueCmd struct {
	DryRun bool `help:"Print what would be revoked and closed, change nothing."`
	actor
	jsonFlag
}

func (reviewCloseDueCmd) Help() string {
	return `The reconciler does the same on its pass (rule review-deadline).

Example:

    orgscim review close-due --dry-run`
}

func (c *reviewCloseDueCmd) Run(env *cliEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	ctx, stdout, dry, asJSON := c.ctx(env.ctx), env.stdout, &c.DryRun, &c.JSON
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	// No reconciler lock: a batch revokes only what is still pending and live, and a
	// review is closed only while open, so this may run beside a pass (or another
	// close-due) and neither does anything twice.
	var revoked []string
	res, err := newServices(db, nil).reviews.CloseDue(ctx, reviews.CloseOptions{DryRun: *dry,
		Revoked: func(_ *reviews.Review, g *orgs.Grant) { revoked = append(revoked, g.ID) }})
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
func reviewView(r *reviews.Review, orgSlug string) map[string]any {
	c := r.Counts
	return map[string]any{"id": r.ID, "org": orgSlug, "name": r.Name, "description": r.Description, "created_by": r.CreatedBy,
		"created_at": r.Created, "deadline": r.Deadline, "state": r.State, "ended_by": r.EndedBy, "ended_at": r.Ended,
		"counts": map[string]int{"items": c.Items, "excluded_mapping_grants": c.ExcludedMapping, "confirmed": c.Confirmed,
			"revoked": c.Revoked, "revoked_at_deadline": c.RevokedAtDeadline, "pending": c.Pending, "lapsed": c.Lapsed}}
}

func printReview(w io.Writer, r *reviews.Review, orgSlug string, asJSON bool) error {
	if asJSON {
		return printJSON(w, reviewView(r, orgSlug))
	}
	c := r.Counts
	_, err := fmt.Fprintf(w, "review %s (%s) on %s: %s, due %s\n  %d items (%d mapping grants left out): %d confirmed, %d revoked, "+
		"%d revoked at the deadline, %d pending, %d lapsed\n", r.ID, r.Name, orgSlug, r.State, r.Deadline.Format(time.RFC3339),
		c.Items, c.ExcludedMapping, c.Confirmed, c.Revoked, c.RevokedAtDeadline, c.Pending, c.Lapsed)
	return err
}
