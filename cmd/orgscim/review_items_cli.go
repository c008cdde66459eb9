package main

// orgscim review show --items: a review's lines from the terminal, people's and service
// accounts' alike, with the admin API's names in JSON.

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sqlstore"
)

// reviewItemView is one line as GET /api/v1/reviews/{id}/items answers it.
func reviewItemView(it *reviews.Item, conn, role, org, owner string, now time.Time) map[string]any {
	g := it.Grant
	decision := it.Decision
	if decision == reviews.ItemPending && !g.LiveAt(now) {
		decision = reviews.ItemLapsed
	}
	v := map[string]any{"grant_id": g.ID, "holder": "user", "service_account": nil, "connection": conn, "user_id": g.UserID,
		"role": role, "org": org, "source": g.Source, "source_id": g.SourceID, "expires_at": g.Expires, "revoked_at": g.Revoked,
		"decision": decision, "decided_by": it.DecidedBy, "decided_at": it.Decided, "note": it.Note}
	if sa := it.ServiceAccount; sa != nil {
		v["holder"] = "service_account"
		v["service_account"] = map[string]any{"id": sa.ID, "name": sa.Name, "state": reviews.AccountState(sa, now),
			"owner": map[string]any{"connection": owner, "user_id": sa.OwnerUserID}}
	}
	return v
}

func printReviewItems(ctx context.Context, w io.Writer, db *sqlstore.DB, r *reviews.Review, orgSlug, decision string, asJSON bool) error {
	svc := newServices(db, nil)
	now := time.Now()
	slugs := map[string]string{}
	lookup := func(kind, id string) (string, error) {
		if id == "" {
			return "", nil
		}
		if s, ok := slugs[kind+id]; ok {
			return s, nil
		}
		var s string
		switch kind {
		case "conn":
			c, err := db.Access().ConnectionByID(ctx, id)
			if err != nil {
				return "", err
			}
			s = c.Slug
		case "org":
			o, err := db.Orgs().OrgByID(ctx, id)
			if err != nil {
				return "", err
			}
			s = o.Slug
		case "role":
			ro, err := db.Access().RoleByID(ctx, id)
			if err != nil {
				return "", err
			}
			s = ro.Key
		}
		slugs[kind+id] = s
		return s, nil
	}
	var lines []map[string]any
	for after := ""; ; {
		page, err := svc.reviews.Items(ctx, cliPrincipal(), r.ID, decision, after, 500)
		if err != nil {
			return cliError(err)
		}
		for _, it := range page {
			g, owner := it.Grant, ""
			conn, err := lookup("conn", g.ConnectionID)
			if err == nil && it.ServiceAccount != nil {
				owner, err = lookup("conn", it.ServiceAccount.OwnerConnectionID)
			}
			var role, org string
			if err == nil {
				role, err = lookup("role", g.RoleID)
			}
			if err == nil {
				org, err = lookup("org", g.OrgID)
			}
			if err != nil {
				return cliError(err)
			}
			lines = append(lines, reviewItemView(it, conn, role, org, owner, now))
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].Grant.ID
	}
	if asJSON {
		v := reviewView(r, orgSlug)
		if lines == nil {
			lines = []map[string]any{}
		}
		v["items"], v["total"] = lines, len(lines)
		return printJSON(w, v)
	}
	if err := printReview(w, r, orgSlug, false); err != nil {
		return err
	}
	which := "lines"
	if decision != "" {
		which = decision + " lines"
	}
	if _, err := fmt.Fprintf(w, "  %s: %d\n", which, len(lines)); err != nil {
		return err
	}
	for _, l := range lines {
		who := fmt.Sprintf("%s/%s", l["connection"], l["user_id"])
		if sa, ok := l["service_account"].(map[string]any); ok {
			owner := sa["owner"].(map[string]any)
			who = fmt.Sprintf("service account %s (%s, owner %s/%s)", sa["name"], sa["state"], owner["connection"], owner["user_id"])
		}
		if _, err := fmt.Fprintf(w, "  %s  %-9s %s: %s on %s\n", l["grant_id"], l["decision"], who, l["role"], l["org"]); err != nil {
			return err
		}
	}
	return nil
}
