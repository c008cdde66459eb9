package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// CreateElevationRequest asks for a privileged role for a while.
type CreateElevationRequest struct {
	Connection      string `json:"connection" doc:"connection slug"`
	UserID          string `json:"user_id" doc:"the SCIM id of the user who needs the role"`
	Role            string `json:"role" doc:"key of a privileged role"`
	Org             string `json:"org" doc:"org slug, inside the connection's subtree"`
	Reason          string `json:"reason" doc:"required: why the role is needed"`
	DurationSeconds int64  `json:"duration_seconds" doc:"how long the grant lasts once approved; at most the role's maximum"`
}

// DecisionRequest says why a request is approved or rejected.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Elevation is a request for a privileged role and its decision.
type Elevation struct {
	ID              string     `json:"id"`
	Connection      string     `json:"connection" doc:"connection slug"`
	UserID          string     `json:"user_id"`
	Role            string     `json:"role" doc:"role key"`
	Org             string     `json:"org" doc:"org slug"`
	Reason          string     `json:"reason"`
	DurationSeconds int64      `json:"duration_seconds"`
	RequestedBy     string     `json:"requested_by"`
	RequestedAt     time.Time  `json:"requested_at"`
	State           string     `json:"state" enum:"requested,approved,rejected,cancelled,expired-unapproved"`
	DecidedBy       string     `json:"decided_by"`
	DecidedAt       *time.Time `json:"decided_at"`
	DecisionReason  string     `json:"decision_reason"`
	GrantID         string     `json:"grant_id" doc:"the grant an approval created; it expires on its own"`
	// ServiceAccountID is set when the beneficiary is a service account (user_id is then
	// its id, connection its owner's).
	ServiceAccountID string `json:"service_account_id" doc:"set when the beneficiary is a service account: user_id is its id, connection its owner's"`
}

func (r *resolver) elevationJSON(e *orgs.Elevation) (Elevation, error) {
	conn, err := r.connSlug(e.ConnectionID)
	if err != nil {
		return Elevation{}, err
	}
	org, err := r.orgSlug(e.OrgID)
	if err != nil {
		return Elevation{}, err
	}
	role, err := r.role(e.RoleID)
	if err != nil {
		return Elevation{}, err
	}
	return Elevation{ID: e.ID, Connection: conn, UserID: e.UserID, Role: role.Key, Org: org, Reason: e.Reason,
		DurationSeconds: int64(e.Duration / time.Second), RequestedBy: e.RequestedBy, RequestedAt: e.Requested,
		State: e.State, DecidedBy: e.DecidedBy, DecidedAt: e.Decided, DecisionReason: e.DecisionReason, GrantID: e.GrantID,
		ServiceAccountID: e.ServiceAccountID}, nil
}

func (s *Server) elevationReply(c echo.Context, code int, e *orgs.Elevation) error {
	out, err := s.resolver(c.Request().Context()).elevationJSON(e)
	if err != nil {
		return err
	}
	return c.JSON(code, out)
}

func (s *Server) createElevation(c echo.Context) error {
	ctx := c.Request().Context()
	var req CreateElevationRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("connection", req.Connection, "user_id", req.UserID, "role", req.Role, "org", req.Org); err != nil {
		return err
	}
	if req.DurationSeconds <= 0 {
		return orgscim.Errorf(orgscim.Invalid, "duration_seconds must be positive")
	}
	conn, err := s.Directory.Connection(ctx, req.Connection)
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	e, err := s.Access.RequestElevation(ctx, principal(c), conn, req.UserID, req.Role, org.ID, req.Reason,
		time.Duration(req.DurationSeconds)*time.Second)
	if err != nil {
		return err
	}
	return s.elevationReply(c, http.StatusCreated, e)
}

func (s *Server) getElevation(c echo.Context) error {
	e, err := s.Access.ElevationFor(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return s.elevationReply(c, http.StatusOK, e)
}

func (s *Server) decideElevation(decide func(s *Server, c echo.Context, reason string) (*orgs.Elevation, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		var req DecisionRequest
		if err := decode(c, &req, true); err != nil {
			return err
		}
		e, err := decide(s, c, req.Reason)
		if err != nil {
			return err
		}
		return s.elevationReply(c, http.StatusOK, e)
	}
}

func approveElevation(s *Server, c echo.Context, reason string) (*orgs.Elevation, error) {
	return s.Access.ApproveElevation(c.Request().Context(), principal(c), c.Param("id"), reason)
}

func rejectElevation(s *Server, c echo.Context, reason string) (*orgs.Elevation, error) {
	return s.Access.RejectElevation(c.Request().Context(), principal(c), c.Param("id"), reason)
}

func cancelElevation(s *Server, c echo.Context, _ string) (*orgs.Elevation, error) {
	return s.Access.CancelElevation(c.Request().Context(), principal(c), c.Param("id"))
}
