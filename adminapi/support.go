package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/support"
)

// SupportSession is a support session of the vendor's staff on a partner org.
type SupportSession struct {
	ID              string     `json:"id"`
	Org             string     `json:"org" doc:"slug of the org whose subtree it reaches"`
	Staff           string     `json:"staff" doc:"the operator it was opened for"`
	Ticket          string     `json:"ticket"`
	Reason          string     `json:"reason"`
	Write           bool       `json:"write" doc:"false: read-only, every change is refused (403)"`
	BreakGlass      bool       `json:"break_glass" doc:"opened without approval, with notice to the partner; owes a review once over"`
	State           string     `json:"state" enum:"requested,active,refused,ended" doc:"active until expires_at; an active session past it authorises nothing"`
	DurationSeconds int64      `json:"duration_seconds"`
	RequestedAt     time.Time  `json:"requested_at"`
	DecidedBy       string     `json:"decided_by,omitempty" doc:"the partner administrator who approved or refused"`
	DecidedAt       *time.Time `json:"decided_at,omitempty"`
	DecisionNote    string     `json:"decision_note,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	EndedAt         *time.Time `json:"ended_at,omitempty"`
	EndedBy         string     `json:"ended_by,omitempty"`
	EndReason       string     `json:"end_reason,omitempty"`
	ReviewRequired  bool       `json:"review_required" doc:"a break-glass session not reviewed yet"`
	ReviewedBy      string     `json:"reviewed_by,omitempty"`
	ReviewedAt      *time.Time `json:"reviewed_at,omitempty"`
	ReviewNote      string     `json:"review_note,omitempty"`
}

// OpenSupportSessionRequest asks for a support session, or breaks the glass.
type OpenSupportSessionRequest struct {
	Org             string `json:"org" doc:"required: slug of a partner org (its subtree is the scope)"`
	Ticket          string `json:"ticket" doc:"required: the support ticket's reference"`
	Reason          string `json:"reason" doc:"required: why the partner's data must be reached"`
	Write           bool   `json:"write,omitempty" doc:"ask for write access; read-only by default"`
	DurationSeconds int64  `json:"duration_seconds" doc:"required: up to the policy's maximum (8 hours unless changed)"`
	BreakGlass      bool   `json:"break_glass,omitempty" doc:"active at once without approval; the partner is notified and a review is owed"`
}

// SupportNoteRequest carries a note with a decision, an end or a review.
type SupportNoteRequest struct {
	Note string `json:"note,omitempty" doc:"recorded with the decision; a review requires one"`
}

func (s *Server) supportService() (*support.Service, error) {
	if s.Support == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "support sessions are not served here")
	}
	return s.Support, nil
}

func (s *Server) supportSessionJSON(c echo.Context, ss *support.Session) (SupportSession, error) {
	org, err := s.Directory.Store.OrgByID(c.Request().Context(), ss.OrgID)
	if err != nil {
		return SupportSession{}, err
	}
	return SupportSession{ID: ss.ID, Org: org.Slug, Staff: ss.Staff, Ticket: ss.Ticket, Reason: ss.Reason, Write: ss.Write,
		BreakGlass: ss.BreakGlass, State: string(ss.State), DurationSeconds: int64(ss.Duration / time.Second),
		RequestedAt: ss.Requested, DecidedBy: ss.DecidedBy, DecidedAt: ss.Decided, DecisionNote: ss.DecisionNote,
		ExpiresAt: ss.Expires, EndedAt: ss.EndedAt, EndedBy: ss.EndedBy, EndReason: ss.EndReason,
		ReviewRequired: ss.ReviewOwed(), ReviewedBy: ss.ReviewedBy, ReviewedAt: ss.Reviewed, ReviewNote: ss.ReviewNote}, nil
}

func (s *Server) answerSupportSession(c echo.Context, status int, ss *support.Session, err error) error {
	if err != nil {
		return err
	}
	out, err := s.supportSessionJSON(c, ss)
	if err != nil {
		return err
	}
	return c.JSON(status, out)
}

func (s *Server) openSupportSession(c echo.Context) error {
	sup, err := s.supportService()
	if err != nil {
		return err
	}
	var req OpenSupportSessionRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if req.DurationSeconds <= 0 || req.DurationSeconds > int64(365*24*time.Hour/time.Second) {
		return orgscim.Errorf(orgscim.Invalid, "duration_seconds must be a positive number of seconds up to the policy's maximum")
	}
	ss, err := sup.Open(c.Request().Context(), principal(c), support.OpenRequest{Org: req.Org, Ticket: req.Ticket, Reason: req.Reason,
		Write: req.Write, Duration: time.Duration(req.DurationSeconds) * time.Second, BreakGlass: req.BreakGlass})
	if err == nil {
		c.Response().Header().Set(echo.HeaderLocation, Prefix+"/support-sessions/"+ss.ID)
	}
	return s.answerSupportSession(c, http.StatusCreated, ss, err)
}

func (s *Server) getSupportSession(c echo.Context) error {
	sup, err := s.supportService()
	if err != nil {
		return err
	}
	ss, err := sup.Get(c.Request().Context(), principal(c), c.Param("id"))
	return s.answerSupportSession(c, http.StatusOK, ss, err)
}

func (s *Server) listSupportSessions(c echo.Context) error {
	sup, err := s.supportService()
	if err != nil {
		return err
	}
	if err := required("org", c.QueryParam("org")); err != nil {
		return err
	}
	after, limit, err := pageOf(c)
	if err != nil {
		return err
	}
	items, err := sup.List(c.Request().Context(), principal(c), c.QueryParam("org"), after, limit)
	if err != nil {
		return err
	}
	return reply(c, items, limit, func(ss *support.Session) string { return ss.ID },
		func(ss *support.Session) (SupportSession, error) { return s.supportSessionJSON(c, ss) })
}

// decideSupportSession serves approve, refuse, end and review: each takes an optional note.
func (s *Server) decideSupportSession(act func(sup *support.Service, c echo.Context, id, note string) (*support.Session, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		sup, err := s.supportService()
		if err != nil {
			return err
		}
		var req SupportNoteRequest
		if err := decode(c, &req, true); err != nil {
			return err
		}
		ss, err := act(sup, c, c.Param("id"), req.Note)
		return s.answerSupportSession(c, http.StatusOK, ss, err)
	}
}

func (s *Server) supportRoutes() []route {
	const admins = "One of the partner's administrators: a delegate with the delegate capability on the session's org."
	return []route{
		{method: http.MethodPost, path: "/support-sessions", tag: "support", body: OpenSupportSessionRequest{}, status: http.StatusCreated,
			resp: SupportSession{}, summary: "Ask for a support session on a partner org: a ticket, a reason, read-only unless write is asked for, " +
				"for a duration up to the policy's maximum; it waits for one of the partner's administrators. With break_glass it is active at once, " +
				"the partner is notified (event support.break_glass, delivered to webhooks) and a review is owed once it is over. " +
				"Then send its id in the Orgscim-Support-Session header: the key acts as that staff member in support of the org, " +
				"inside the org's subtree only, audited as such.",
			who: "Operators (the session is the key's operator's), without a session header.", handle: s.openSupportSession},
		{method: http.MethodGet, path: "/support-sessions", tag: "support", status: http.StatusOK, resp: Page[SupportSession]{},
			query:   append([]param{{"org", "org slug", true}}, pageParams...),
			summary: "List the support sessions on an org, by id.", who: "Operators; " + admins, handle: s.listSupportSessions},
		{method: http.MethodGet, path: "/support-sessions/{id}", tag: "support", status: http.StatusOK, resp: SupportSession{},
			summary: "Read a support session.", who: "Operators; " + admins, handle: s.getSupportSession},
		{method: http.MethodPost, path: "/support-sessions/{id}/approve", tag: "support", body: SupportNoteRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: SupportSession{}, summary: "Approve a requested session: it is active from now for its duration. Audited.",
			who: admins + " Never the vendor's operators.",
			handle: s.decideSupportSession(func(sup *support.Service, c echo.Context, id, n string) (*support.Session, error) {
				return sup.Approve(c.Request().Context(), principal(c), id, n)
			})},
		{method: http.MethodPost, path: "/support-sessions/{id}/refuse", tag: "support", body: SupportNoteRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: SupportSession{}, summary: "Refuse a requested session. Audited.", who: admins,
			handle: s.decideSupportSession(func(sup *support.Service, c echo.Context, id, n string) (*support.Session, error) {
				return sup.Refuse(c.Request().Context(), principal(c), id, n)
			})},
		{method: http.MethodPost, path: "/support-sessions/{id}/end", tag: "support", body: SupportNoteRequest{}, bodyOptional: true,
			status: http.StatusOK, resp: SupportSession{}, summary: "End a requested or active session now (it also ends by itself at its expiry). Audited.",
			who: "Operators; " + admins,
			handle: s.decideSupportSession(func(sup *support.Service, c echo.Context, id, n string) (*support.Session, error) {
				return sup.End(c.Request().Context(), principal(c), id, n)
			})},
		{method: http.MethodPost, path: "/support-sessions/{id}/review", tag: "support", body: SupportNoteRequest{}, status: http.StatusOK,
			resp: SupportSession{}, summary: "Review a break-glass session once it is over, with a note: what was done and whether it was justified. " +
				"409 for a session that is still active, was approved rather than broken into, or is reviewed already. Audited.",
			who: admins + " Or an operator other than the staff member who opened it.",
			handle: s.decideSupportSession(func(sup *support.Service, c echo.Context, id, n string) (*support.Session, error) {
				return sup.Review(c.Request().Context(), principal(c), id, n)
			})},
	}
}
