package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/domains"
)

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

// The quarantine's handlers call domains.Quarantine, whose Connection is the one rule of
// who may review a connection's held users (the console's pages call it too).

func (s *Server) quarantine() (*domains.Quarantine, error) {
	if s.Quarantine == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "quarantine is not configured")
	}
	return s.Quarantine, nil
}

func (s *Server) listQuarantine(c echo.Context) error {
	q, err := s.quarantine()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	conn, qs, err := q.Held(ctx, principal(c), c.Param("slug"), maxQuarantineListed)
	if err != nil {
		return err
	}
	out := QuarantineList{Users: make([]QuarantinedUser, 0, len(qs))}
	for _, h := range qs {
		u, err := q.Users.Get(ctx, conn.ID, h.UserID)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		out.Users = append(out.Users, QuarantinedUser{UserID: h.UserID, UserName: u.UserName, Domain: h.Domain, Since: h.Since})
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) releaseQuarantined(c echo.Context) error {
	q, err := s.quarantine()
	if err != nil {
		return err
	}
	u, err := q.Release(c.Request().Context(), principal(c), c.Param("slug"), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, QuarantinedUser{UserID: u.ID, UserName: u.UserName})
}

func (s *Server) deleteQuarantined(c echo.Context) error {
	q, err := s.quarantine()
	if err != nil {
		return err
	}
	if err := q.Reject(c.Request().Context(), principal(c), c.Param("slug"), c.Param("id")); err != nil {
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
