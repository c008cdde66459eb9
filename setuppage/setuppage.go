// Package setuppage serves the page a setup link opens for a partner's IT
// administrator: the connection's SCIM base URL, instructions for its IdP (Microsoft
// Entra ID, Okta or a generic SCIM client), and a button that reveals a fresh bearer
// token once.
//
// GET only shows the page: link scanners and previews that fetch the URL do not use
// the link. The token is issued by the POST of the button, which uses the link in the
// same transaction (orgs.Onboarding.RevealSetupLink); any later visit, an expired link
// and an unknown one get the same 410 page, which says nothing about the connection.
// Every answer is HTML from html/template with no external assets, a Content Security
// Policy that allows no script, no caching and no referrer.
package setuppage

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// Prefix is where setup links point: Prefix + the link's secret.
const Prefix = "/setup/"

// Links is what the page needs of onboarding (orgs.Onboarding).
type Links interface {
	SetupLinkConnection(ctx context.Context, secret string) (*orgs.Connection, error)
	RevealSetupLink(ctx context.Context, secret string) (*orgs.Connection, string, error)
}

// Server serves setup pages.
type Server struct {
	Links  Links
	Logger *slog.Logger
}

//go:embed page.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// view is what the template shows.
type view struct {
	Gone    bool   // the link is unknown, used or expired
	Problem string // a refusal the administrator can act on
	BaseURL string
	IdP     string
	Token   string // set once, on the reveal
	Action  string // where the button posts
}

// Register mounts the page on e.
func (s *Server) Register(e *echo.Echo) {
	e.GET(Prefix+":secret", s.show)
	e.POST(Prefix+":secret", s.reveal)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) show(c echo.Context) error {
	secret := c.Param("secret")
	conn, err := s.Links.SetupLinkConnection(c.Request().Context(), secret)
	if err != nil {
		return s.refuse(c, err)
	}
	return s.render(c, http.StatusOK, view{BaseURL: baseURL(c, conn), IdP: conn.IdP, Action: Prefix + secret})
}

func (s *Server) reveal(c echo.Context) error {
	conn, token, err := s.Links.RevealSetupLink(c.Request().Context(), c.Param("secret"))
	if err != nil {
		return s.refuse(c, err)
	}
	return s.render(c, http.StatusOK, view{BaseURL: baseURL(c, conn), IdP: conn.IdP, Token: token})
}

// refuse answers a failure: 410 for a link that cannot be used (whatever the reason),
// the domain's message for a state the partner's contact can fix, and a generic page
// for anything else.
func (s *Server) refuse(c echo.Context, err error) error {
	switch orgscim.ErrorCode(err) {
	case orgscim.NotFound:
		return s.render(c, http.StatusGone, view{Gone: true})
	case orgscim.Conflict:
		return s.render(c, http.StatusConflict, view{Problem: orgscim.ErrorMessage(err)})
	}
	s.logger().Error("setup page", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		slog.String("error", err.Error()))
	return s.render(c, http.StatusInternalServerError, view{Problem: "Something went wrong on our side; the link was not used. Try again later."})
}

func (s *Server) render(c echo.Context, status int, v view) error {
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	return c.HTMLBlob(status, buf.Bytes())
}

// baseURL is the connection's SCIM base URL on the host the administrator reached this
// page at: the same server answers SCIM there.
func baseURL(c echo.Context, conn *orgs.Connection) string {
	return c.Scheme() + "://" + c.Request().Host + "/scim/v2/" + conn.Slug
}
