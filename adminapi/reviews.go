package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reviews"
)

// CreateReviewRequest opens an access review over an org's subtree.
type CreateReviewRequest struct {
	Org         string    `json:"org" doc:"org slug: the review covers the grants on its whole subtree"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Deadline    time.Time `json:"deadline" doc:"RFC 3339, in the future and within 366 days; what is unconfirmed by then is revoked"`
}

// ReviewDecisionRequest is a reviewer's note on a decision.
type ReviewDecisionRequest struct {
	Note string `json:"note,omitempty" doc:"recorded with the decision (and, for a revocation, in the grant's reason)"`
}

// ReviewCounts says how far a review has got: items = confirmed + revoked +
// revoked_at_deadline + pending + lapsed.
type ReviewCounts struct {
	Items                 int `json:"items" doc:"grants in the snapshot taken at the start"`
	ExcludedMappingGrants int `json:"excluded_mapping_grants" doc:"grants from mappings left out of reviews started before reviews covered them; 0 since"`
	Confirmed             int `json:"confirmed"`
	Revoked               int `json:"revoked" doc:"revoked by a reviewer"`
	RevokedAtDeadline     int `json:"revoked_at_deadline" doc:"not confirmed by the deadline, so revoked"`
	Pending               int `json:"pending" doc:"undecided, the grant still live"`
	Lapsed                int `json:"lapsed" doc:"undecided, the grant ended by other means (revoked, expired): nothing left to decide"`
	Mappings              int `json:"mappings" doc:"mappings in the snapshot: the rules behind the grants of their groups' members"`
	MappingsConfirmed     int `json:"mappings_confirmed"`
	MappingsRetired       int `json:"mappings_retired" doc:"retired by a reviewer, or at the deadline because nobody confirmed them"`
}

// ReviewMapping is one mapping of a review and its decision.
type ReviewMapping struct {
	Mapping   Mapping    `json:"mapping" doc:"as it is now"`
	Decision  string     `json:"decision" enum:"pending,confirmed,retired"`
	DecidedBy string     `json:"decided_by"`
	DecidedAt *time.Time `json:"decided_at"`
	Note      string     `json:"note"`
}

// Review is an access review campaign.
type Review struct {
	ID          string       `json:"id"`
	Kind        string       `json:"kind" enum:"subtree,reattest,revalidate" doc:"subtree: started by a person over a subtree; reattest: the grants made under a revoked delegation, handed over; revalidate: a subtree after a move, a contract or owner change"`
	Org         string       `json:"org" doc:"org slug, the root of the reviewed subtree"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	CreatedBy   string       `json:"created_by"`
	CreatedAt   time.Time    `json:"created_at"`
	Deadline    time.Time    `json:"deadline"`
	State       string       `json:"state" enum:"open,closed,cancelled"`
	EndedBy     string       `json:"ended_by" doc:"who closed or cancelled it"`
	EndedAt     *time.Time   `json:"ended_at"`
	Counts      ReviewCounts `json:"counts"`
}

// ReviewServiceAccount names the service account that holds a review item's grant, and
// the person who answers for it.
type ReviewServiceAccount struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner Owner  `json:"owner" doc:"the accountable owner"`
	State string `json:"state" enum:"active,orphaned,expired,retired" doc:"orphaned: the owner is gone and the account holds nothing until reassigned; confirming its grant keeps the grant, not the account's right"`
}

// ReviewItem is one grant of a review and its decision.
type ReviewItem struct {
	GrantID        string                `json:"grant_id" doc:"the item's id in /reviews/{id}/items/{item}"`
	Holder         string                `json:"holder" enum:"user,service_account" doc:"who holds the grant: a person (connection, user_id) or a service account (service_account)"`
	ServiceAccount *ReviewServiceAccount `json:"service_account" doc:"the holding service account and its owner; null for a person"`
	Connection     string                `json:"connection" doc:"connection slug; empty for a service account"`
	UserID         string                `json:"user_id" doc:"the person's SCIM id, or the service account's id"`
	Role           string                `json:"role" doc:"role key"`
	Org            string                `json:"org" doc:"org slug"`
	Source         string                `json:"source" enum:"mapping,direct,import,elevation" doc:"revoking a mapping's grant records an exception: the mapping does not grant it again"`
	SourceID       string                `json:"source_id"`
	ExpiresAt      *time.Time            `json:"expires_at"`
	RevokedAt      *time.Time            `json:"revoked_at" doc:"when the grant was revoked, by this review or otherwise"`
	Decision       string                `json:"decision" enum:"pending,confirmed,revoked,lapsed"`
	DecidedBy      string                `json:"decided_by"`
	DecidedAt      *time.Time            `json:"decided_at"`
	Note           string                `json:"note"`
}

// ReviewItemPage is a page of a review's items and how many there are in all, so that a
// client shows which of how many it holds without walking every page.
type ReviewItemPage struct {
	Page[ReviewItem]
	Total int `json:"total" doc:"how many items the decision filter selects (every item the caller reviews without one), across all pages"`
}

func (s *Server) reviews() (*reviews.Service, error) {
	if s.Reviews == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "access reviews are not available")
	}
	return s.Reviews, nil
}

func (r *resolver) reviewJSON(x *reviews.Review) (Review, error) {
	org, err := r.orgSlug(x.OrgID)
	if err != nil {
		return Review{}, err
	}
	c := x.Counts
	return Review{ID: x.ID, Kind: string(x.Kind), Org: org, Name: x.Name, Description: x.Description, CreatedBy: x.CreatedBy, CreatedAt: x.Created,
		Deadline: x.Deadline, State: string(x.State), EndedBy: x.EndedBy, EndedAt: x.Ended,
		Counts: ReviewCounts{Items: c.Items, ExcludedMappingGrants: c.ExcludedMapping, Confirmed: c.Confirmed, Revoked: c.Revoked,
			RevokedAtDeadline: c.RevokedAtDeadline, Pending: c.Pending, Lapsed: c.Lapsed, Mappings: c.Mappings,
			MappingsConfirmed: c.MappingsConfirmed, MappingsRetired: c.MappingsRetired}}, nil
}

func (r *resolver) reviewItemJSON(it *reviews.Item, now time.Time) (ReviewItem, error) {
	g := it.Grant
	conn, err := r.connSlug(g.ConnectionID)
	if err != nil {
		return ReviewItem{}, err
	}
	role, err := r.role(g.RoleID)
	if err != nil {
		return ReviewItem{}, err
	}
	org, err := r.orgSlug(g.OrgID)
	if err != nil {
		return ReviewItem{}, err
	}
	decision := it.Decision
	if decision == reviews.ItemPending && !g.LiveAt(now) {
		decision = reviews.ItemLapsed
	}
	out := ReviewItem{GrantID: g.ID, Holder: "user", Connection: conn, UserID: g.UserID, Role: role.Key, Org: org, Source: string(g.Source),
		SourceID: g.SourceID, ExpiresAt: g.Expires, RevokedAt: g.Revoked, Decision: decision, DecidedBy: it.DecidedBy,
		DecidedAt: it.Decided, Note: it.Note}
	if sa := it.ServiceAccount; sa != nil {
		owner, err := r.connSlug(sa.OwnerConnectionID)
		if err != nil {
			return ReviewItem{}, err
		}
		out.Holder = "service_account"
		out.ServiceAccount = &ReviewServiceAccount{ID: sa.ID, Name: sa.Name, Owner: Owner{Connection: owner, UserID: sa.OwnerUserID},
			State: reviews.AccountState(sa, now)}
	}
	return out, nil
}

func (s *Server) reviewReply(c echo.Context, code int, x *reviews.Review) error {
	out, err := s.resolver(c.Request().Context()).reviewJSON(x)
	if err != nil {
		return err
	}
	return c.JSON(code, out)
}

func (s *Server) createReview(c echo.Context) error {
	rv, err := s.reviews()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var req CreateReviewRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("org", req.Org, "name", req.Name); err != nil {
		return err
	}
	if req.Deadline.IsZero() {
		return orgscim.Errorf(orgscim.Invalid, "missing deadline")
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	x, err := rv.StartReview(ctx, principal(c), org.ID, req.Name, req.Description, req.Deadline)
	if err != nil {
		return err
	}
	return s.reviewReply(c, http.StatusCreated, x)
}

func (s *Server) listReviews(c echo.Context) error {
	rv, err := s.reviews()
	if err != nil {
		return err
	}
	after, limit, err := pageOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var org *orgs.Org
	if slug := c.QueryParam("org"); slug != "" {
		if org, err = s.Directory.Store.OrgBySlug(ctx, slug); err != nil {
			return err
		}
	}
	items, err := rv.List(ctx, principal(c), org, c.QueryParam("state"), after, limit)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	r.remember(org)
	return reply(c, items, limit, func(x *reviews.Review) string { return x.ID }, r.reviewJSON)
}

func (s *Server) getReview(c echo.Context) error {
	rv, err := s.reviews()
	if err != nil {
		return err
	}
	x, err := rv.ReviewFor(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return s.reviewReply(c, http.StatusOK, x)
}

func (s *Server) listReviewItems(c echo.Context) error {
	rv, err := s.reviews()
	if err != nil {
		return err
	}
	after, limit, err := pageOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	by, id, decision := principal(c), c.Param("id"), c.QueryParam("decision")
	items, err := rv.Items(ctx, by, id, decision, after, limit)
	if err != nil {
		return err
	}
	total, _, err := rv.CountItems(ctx, by, id, decision, "")
	if err != nil {
		return err
	}
	r, now := s.resolver(ctx), s.now()
	p, err := pageOfItems(items, limit, func(x *reviews.Item) string { return x.Grant.ID },
		func(x *reviews.Item) (ReviewItem, error) { return r.reviewItemJSON(x, now) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ReviewItemPage{Page: p, Total: total})
}

func (s *Server) decideReviewItem(decision string) echo.HandlerFunc {
	return decideOn(s, "item", func(rv *reviews.Service) func(context.Context, orgs.Principal, string, string, string) (*reviews.Item, error) {
		if decision == reviews.ItemRevoked {
			return rv.Revoke
		}
		return rv.Confirm
	}, func(r *resolver, it *reviews.Item) (ReviewItem, error) { return r.reviewItemJSON(it, s.now()) })
}

// decideOn is the handler of a reviewer's decision on the item named by the path
// parameter param: the body's note, the domain's decision by the caller, its JSON.
func decideOn[T, J any](s *Server, param string, decision func(*reviews.Service) func(context.Context, orgs.Principal, string, string, string) (T, error),
	toJSON func(*resolver, T) (J, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		rv, err := s.reviews()
		if err != nil {
			return err
		}
		var req ReviewDecisionRequest
		if err := decode(c, &req, true); err != nil {
			return err
		}
		ctx := c.Request().Context()
		it, err := decision(rv)(ctx, principal(c), c.Param("id"), c.Param(param), req.Note)
		if err != nil {
			return err
		}
		out, err := toJSON(s.resolver(ctx), it)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, out)
	}
}

func (s *Server) cancelReview(c echo.Context) error {
	rv, err := s.reviews()
	if err != nil {
		return err
	}
	var req ReasonRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	x, err := rv.Cancel(c.Request().Context(), principal(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return s.reviewReply(c, http.StatusOK, x)
}

func (r *resolver) reviewMappingJSON(it *reviews.Mapping) (ReviewMapping, error) {
	m, err := r.mappingJSON(it.Mapping)
	if err != nil {
		return ReviewMapping{}, err
	}
	return ReviewMapping{Mapping: m, Decision: it.Decision, DecidedBy: it.DecidedBy, DecidedAt: it.Decided, Note: it.Note}, nil
}

func (s *Server) listReviewMappings(c echo.Context) error {
	rv, err := s.reviews()
	if err != nil {
		return err
	}
	after, limit, err := pageOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	items, err := rv.Mappings(ctx, principal(c), c.Param("id"), c.QueryParam("decision"), after, limit)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	return reply(c, items, limit, func(x *reviews.Mapping) string { return x.Mapping.ID }, r.reviewMappingJSON)
}

func (s *Server) decideReviewMapping(decision string) echo.HandlerFunc {
	return decideOn(s, "mapping", func(rv *reviews.Service) func(context.Context, orgs.Principal, string, string, string) (*reviews.Mapping, error) {
		if decision == reviews.ItemRetired {
			return rv.RetireMapping
		}
		return rv.ConfirmMapping
	}, (*resolver).reviewMappingJSON)
}
