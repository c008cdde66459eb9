package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/orgs"
)

// healthView is a connection's health and its redacted request log, as GET
// /api/v1/connections/{slug}/health and /requests report them.
type healthView struct {
	Connection *orgs.Connection
	Org        *orgs.Org
	Health     *connhealth.Health
	// ErrorShare is the share of requests answered with an error, in words.
	ErrorShare   string
	UsableTokens int
	Rotation     *orgs.Rotation
	NewTokenUsed bool
	Expiring     []expiringToken
	Requests     []loggedRequest
}

type expiringToken struct {
	Hint    string
	Expires time.Time
	In      string
}

type loggedRequest struct {
	connhealth.Logged
	Latency string
	Failed  bool
}

func (s *Server) healthPage(c echo.Context) error {
	ctx := c.Request().Context()
	if s.Health == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "connection health is not available")
	}
	// The admin API's rule: operators, and delegates on one path of the tree with it.
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return err
	}
	h, err := s.Health.Health(ctx, conn.ID)
	if err != nil {
		return err
	}
	tokens, err := s.Directory.Store.Tokens(ctx, conn.ID)
	if err != nil {
		return err
	}
	rot, err := s.Directory.RotationOf(ctx, conn.ID)
	if err != nil && orgscim.ErrorCode(err) != orgscim.NotImplemented {
		return err
	}
	log, err := s.Health.RequestLog(ctx, conn.ID, connhealth.Keep)
	if err != nil {
		return err
	}
	now := s.now()
	v := healthView{Connection: conn, Org: org, Health: h, Rotation: rot, ErrorShare: "no requests yet"}
	if h.Requests > 0 {
		v.ErrorShare = fmt.Sprintf("%.1f%% answered with an error", 100*float64(h.ClientErrors+h.ServerErrors)/float64(h.Requests))
	}
	for _, t := range tokens {
		if t.Usable(now) {
			v.UsableTokens++
		}
		if rot != nil && t.ID == rot.TokenID && t.LastUsed != nil {
			v.NewTokenUsed = true
		}
	}
	window := s.TokenExpiryWarning
	if window <= 0 {
		window = orgs.DefaultTokenExpiryWarning
	}
	for _, t := range orgs.ExpiringTokens(tokens, now, window) {
		v.Expiring = append(v.Expiring, expiringToken{Hint: t.Hint, Expires: *t.Expires, In: t.Expires.Sub(now).Round(time.Minute).String()})
	}
	for _, l := range log {
		v.Requests = append(v.Requests, loggedRequest{Logged: l, Failed: l.Status >= 400,
			Latency: fmt.Sprintf("%.1f ms", float64(l.Latency.Microseconds())/1000)})
	}
	out := view{Title: "Health of " + conn.Slug, Page: v}
	if err := s.wear(ctx, &out, org); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "health", out)
}
