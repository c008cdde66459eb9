package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// QuarantineReview is the review of the users a connection's domain policy holds
// (provisioning.Users).
type QuarantineReview interface {
	Quarantined(ctx context.Context, conn string, limit int) ([]*provisioning.Quarantine, error)
	Release(ctx context.Context, conn, id, by string) (*provisioning.User, error)
	DeleteQuarantined(ctx context.Context, conn, id string) error
	Get(ctx context.Context, conn, id string) (*provisioning.User, error)
}

// QuarantinedUser is a user held by its connection's domain policy.
type QuarantinedUser struct {
	UserID   string    `json:"user_id"`
	UserName string    `json:"user_name"`
	Domain   string    `json:"domain" doc:"the domain outside the org's verified domains it was held for"`
	Since    time.Time `json:"since"`
}

// QuarantineList is a connection's held users, oldest first.
type QuarantineList struct {
	Users []QuarantinedUser `json:"users"`
}

// maxQuarantineListed bounds one listing; a connection with more has a policy to fix.
const maxQuarantineListed = 1000

// quarantineConnection loads the connection and checks that p may review its people:
// operators, and delegates with manage_members on its org.
func (s *Server) quarantineConnection(c echo.Context) (*orgs.Connection, error) {
	if s.Quarantine == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "quarantine is not configured")
	}
	ctx := c.Request().Context()
	conn, err := s.Directory.Store.ConnectionBySlug(ctx, c.Param("slug"))
	if err != nil {
		return nil, err
	}
	p := principal(c)
	if p.Operator != "" {
		return conn, nil
	}
	m, err := s.Access.Store.OrgsByID(ctx, []string{conn.OrgID})
	if err != nil {
		return nil, err
	}
	if m[conn.OrgID] == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no connection %q", c.Param("slug"))
	}
	if err := s.Delegations.Authorize(ctx, p, orgs.CapManageMembers, m[conn.OrgID]); err != nil {
		return nil, err
	}
	return conn, nil
}

func (s *Server) listQuarantine(c echo.Context) error {
	conn, err := s.quarantineConnection(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	qs, err := s.Quarantine.Quarantined(ctx, conn.ID, maxQuarantineListed)
	if err != nil {
		return err
	}
	out := QuarantineList{Users: make([]QuarantinedUser, 0, len(qs))}
	for _, q := range qs {
		u, err := s.Quarantine.Get(ctx, conn.ID, q.UserID)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		out.Users = append(out.Users, QuarantinedUser{UserID: q.UserID, UserName: u.UserName, Domain: q.Domain, Since: q.Since})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) releaseQuarantined(c echo.Context) error {
	conn, err := s.quarantineConnection(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.Quarantine.Release(ctx, conn.ID, c.Param("id"), audit.SourceOf(ctx).Actor)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, QuarantinedUser{UserID: u.ID, UserName: u.UserName})
}

func (s *Server) deleteQuarantined(c echo.Context) error {
	conn, err := s.quarantineConnection(c)
	if err != nil {
		return err
	}
	if err := s.Quarantine.DeleteQuarantined(c.Request().Context(), conn.ID, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) quarantineRoutes() []route {
	const who = "Operators; a delegate with manage_members on the connection's org."
	return []route{
		{method: http.MethodGet, path: "/connections/{slug}/quarantine", tag: "domains", status: http.StatusOK, resp: QuarantineList{},
			summary: "The users the connection's domain policy holds (outside the org's verified domains), oldest first: stored, " +
				"inactive for every access decision.", who: who, handle: s.listQuarantine},
		{method: http.MethodPost, path: "/connections/{slug}/quarantine/{id}/release", tag: "domains", status: http.StatusOK,
			resp: QuarantinedUser{}, summary: "Admit a held user in the domain it was held for: it becomes as active as its IdP says. Audited.",
			who: who, handle: s.releaseQuarantined},
		{method: http.MethodDelete, path: "/connections/{slug}/quarantine/{id}", tag: "domains", status: http.StatusNoContent,
			summary: "Delete a held user, as its IdP's DELETE would. Audited.", who: who, handle: s.deleteQuarantined},
	}
}
