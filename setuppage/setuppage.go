// Package setuppage serves the page a setup link opens for a partner's IT
// administrator: the connection's SCIM base URL, instructions for its IdP (Microsoft
// Entra ID, Okta or a generic SCIM client), and a button that reveals a fresh bearer
// token once. The page wears the brand of the connection's org (display name, colours,
// logo), says when the link expires, and has copy buttons for the URL and the token.
//
// GET only shows the page: link scanners and previews that fetch the URL do not use
// the link. The token is issued by the POST of the button, which uses the link in the
// same transaction (onboarding.Onboarding.RevealSetupLink); any later visit, an expired link
// and an unknown one get the same 410 page, which says nothing about the connection.
// Every answer is HTML from html/template with no caching and no referrer, under a
// Content Security Policy that allows one script, the embedded copy.js, by its hash (no
// inline handlers), and images only over https (the brand's logo). Brand values are
// stored as given, so the page uses a colour only if it is a hex colour and a logo only
// if it is an https URL.
package setuppage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
)

// Prefix is where setup links point: Prefix + the link's secret.
const Prefix = "/setup/"

// Links is what the page needs of onboarding (onboarding.Onboarding).
type Links interface {
	SetupLinkView(ctx context.Context, secret string) (*onboarding.SetupLinkView, error)
	RevealSetupLink(ctx context.Context, secret string) (*orgs.Connection, string, error)
	ConnectionOrg(ctx context.Context, conn *orgs.Connection) (*orgs.Org, error)
}

// Server serves setup pages.
type Server struct {
	Links  Links
	Logger *slog.Logger
}

//go:embed page.html copy.js
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// copyScript is the page's one script; the policy names its hash, so the browser runs
// it and nothing else.
var copyScript, scriptHash = func() (template.JS, string) {
	b, err := files.ReadFile("copy.js")
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return template.JS(b), "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// contentSecurityPolicy allows the page's own styles, its script by hash, https images
// (the brand's logo) and posting to itself: nothing else.
var contentSecurityPolicy = "default-src 'none'; script-src " + scriptHash +
	"; style-src 'unsafe-inline'; img-src https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// view is what the template shows.
type view struct {
	Gone    bool   // the link is unknown, used or expired
	Problem string // a refusal the administrator can act on
	Brand   Brand
	BaseURL string
	IdP     string
	Status  string    // the connection's: pending, active or suspended
	Expires time.Time // the link's, before the reveal
	Token   string    // set once, on the reveal
	Action  string    // where the button posts
	Script  template.JS
}

// Brand is an org's brand as a page may use it: only values that are safe in their
// place survive.
type Brand struct {
	Name    string
	LogoURL string
	// Primary colours the heading band and the buttons, with Ink the legible text on
	// it; Accent the links and borders.
	Primary, Ink, Accent template.CSS
}

var hexColour = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// BrandOf is o's brand with only its safe values (the console wears it too).
func BrandOf(o *orgs.Org) Brand {
	if o == nil {
		return Brand{}
	}
	b := Brand{Name: strings.TrimSpace(o.Brand.DisplayName)}
	if b.Name == "" {
		b.Name = o.Name
	}
	if u, err := url.Parse(o.Brand.LogoURL); err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil {
		b.LogoURL = u.String()
	}
	if hexColour.MatchString(o.Brand.PrimaryColor) {
		b.Primary = template.CSS(o.Brand.PrimaryColor)
		b.Ink = template.CSS(inkOn(o.Brand.PrimaryColor))
	}
	if hexColour.MatchString(o.Brand.AccentColor) {
		b.Accent = template.CSS(o.Brand.AccentColor)
	}
	return b
}

// inkOn picks black or white text, whichever reads better on the hex colour c (by its
// relative luminance, WCAG 2).
func inkOn(c string) string {
	c = strings.TrimPrefix(c, "#")
	if len(c) == 3 {
		c = string([]byte{c[0], c[0], c[1], c[1], c[2], c[2]})
	}
	var lum float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(c[2*i:2*i+2], 16, 8)
		s := float64(v) / 255
		if s <= 0.03928 {
			s /= 12.92
		} else {
			s = math.Pow((s+0.055)/1.055, 2.4)
		}
		lum += w * s
	}
	// Contrast with white (1.05/(L+0.05)) against black ((L+0.05)/0.05): equal at L≈0.179.
	if lum > 0.179 {
		return "#111111"
	}
	return "#ffffff"
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
	v, err := s.Links.SetupLinkView(c.Request().Context(), secret)
	if err != nil {
		return s.refuse(c, err)
	}
	return s.render(c, http.StatusOK, view{Brand: BrandOf(v.Org), BaseURL: baseURL(c, v.Connection), IdP: v.Connection.IdP,
		Status: v.Connection.Status, Expires: v.Expires.UTC(), Action: Prefix + secret})
}

func (s *Server) reveal(c echo.Context) error {
	ctx := c.Request().Context()
	conn, token, err := s.Links.RevealSetupLink(ctx, c.Param("secret"))
	if err != nil {
		return s.refuse(c, err)
	}
	// The token is issued: a brand that cannot be read now must not hide it.
	org, err := s.Links.ConnectionOrg(ctx, conn)
	if err != nil {
		s.logger().Warn("setup page: the connection's org for its brand", slog.String("error", err.Error()),
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
	}
	return s.render(c, http.StatusOK, view{Brand: BrandOf(org), BaseURL: baseURL(c, conn), IdP: conn.IdP,
		Status: conn.Status, Token: token})
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
	v.Script = copyScript
	var buf bytes.Buffer
	if err := page.Execute(&buf, v); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
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
