package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/setuppage"
)

// Prefix is where the console lives.
const Prefix = "/console"

// Lists pages through orgs, connections and roles (sqlstore.Lists does).
type Lists interface {
	ChildOrgs(ctx context.Context, parentID, after string, limit int) ([]*orgs.Org, error)
	Connections(ctx context.Context, orgID, after string, limit int) ([]*orgs.Connection, error)
	Roles(ctx context.Context, after string, limit int) ([]*orgs.Role, error)
	Mappings(ctx context.Context, connID, state, after string, limit int) ([]*orgs.Mapping, error)
	Grants(ctx context.Context, orgID string, live bool, after string, limit int) ([]*orgs.Grant, error)
	CountGrants(ctx context.Context, orgID string, live bool, after string) (total, before int, err error)
	Delegations(ctx context.Context, orgID, after string, limit int) ([]*orgs.Delegation, error)
}

// Groups reads the groups of a connection (provisioning.Groups does).
type Groups interface {
	Get(ctx context.Context, conn, id string) (*provisioning.Group, error)
	List(ctx context.Context, conn string, q provisioning.Query) (provisioning.GroupPage, error)
	Members(ctx context.Context, conn, id string, fn func(provisioning.Member) error) error
}

// Server serves the console.
type Server struct {
	Sessions    *sessions.Service
	Directory   *orgs.Directory
	Access      *orgs.Access
	Delegations *orgs.Delegations
	Users       sessions.UserDirectory
	Groups      Groups
	Reviews     *reviews.Service
	Onboarding  *onboarding.Onboarding
	Lists       Lists
	Logger      *slog.Logger
	// HTTPClient reaches the partners' IdPs (nil: a client with a 10 s timeout).
	HTTPClient *http.Client
	// PublicURL is the server's address as browsers reach it, without a trailing slash:
	// the OIDC redirect URI is built on it, and an https one makes cookies Secure behind
	// a proxy that terminates TLS. Empty: each request's own scheme and Host.
	PublicURL string
	// Ops serve the operations pages (health, webhooks, reconciler, audit, import).
	Ops
	// Trust serves an org's verified domains and support sessions.
	Trust
	// ServiceAccounts serves the service account pages (nil: none).
	ServiceAccounts *orgs.ServiceAccounts
	// MSP serves the MSP engagement pages (nil: none).
	MSP *msp.Service
}

// base is the address of the server as the browser reached it.
func (s *Server) base(c echo.Context) string {
	if s.PublicURL != "" {
		return s.PublicURL
	}
	return c.Scheme() + "://" + c.Request().Host
}

func (s *Server) secure(c echo.Context) bool {
	return c.IsTLS() || strings.HasPrefix(s.PublicURL, "https://")
}

const (
	sessionCookie = "orgscim_console"
	loginCookie   = "orgscim_console_login"
)

//go:embed templates/*.html static/*
var files embed.FS

var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return t.UTC().Format("2 Jan 2006 15:04 UTC")
		},
		"at":   func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
		"join": strings.Join,
		"span": span,
		// dict passes named values to a shared template ("text", "steps").
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
		"caps": func(cs []orgs.Capability) string {
			s := make([]string, len(cs))
			for i, c := range cs {
				s[i] = strings.ReplaceAll(string(c), "_", " ")
			}
			return strings.Join(s, ", ")
		},
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	out := map[string]*template.Template{}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.Must(layout.Clone()).ParseFS(files, n))
	}
	return out
}()

// contentSecurityPolicy: no script at all, styles only from the console's own files,
// images from itself and over https (a partner's logo), forms only to itself, never framed.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self' https: http://127.0.0.1:* http://localhost:*; " +
	"frame-ancestors 'none'; base-uri 'none'"

// Register mounts the console on e. Errors under Prefix are answered by HandleError.
func (s *Server) Register(e *echo.Echo) {
	g := e.Group(Prefix, s.headers)
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err)
	}
	g.GET("/static/*", echo.WrapHandler(http.StripPrefix(Prefix+"/static/", http.FileServer(http.FS(static)))))
	g.GET("/sign-in", s.signInPage)
	g.GET("/sign-in/callback", s.callback)
	g.GET("/sign-in/:conn", s.startSignIn)
	g.GET("/link/:secret", s.linkPage)
	g.POST("/link/:secret", s.redeemLink)
	g.POST("/sign-out", s.signOut)
	g.GET("", s.authed(s.home))
	g.GET("/", s.authed(s.home))
	g.GET("/connections/:conn/people", s.authed(s.people))
	g.GET("/connections/:conn/people/:id", s.authed(s.person))
	g.GET("/connections/:conn/people/:id/why", s.authed(s.why))
	g.POST("/connections/:conn/people/:id/grants", s.authed(s.grant))
	g.POST("/grants/:id/revoke", s.authed(s.revoke))
	g.GET("/connections/:conn/groups", s.authed(s.groups))
	g.GET("/onboarding", s.authed(s.onboardingList))
	g.POST("/onboarding", s.authed(s.propose))
	g.GET("/onboarding/:id", s.authed(s.onboardingPage))
	g.POST("/onboarding/:id/approve", s.authed(s.decideOnboarding(true)))
	g.POST("/onboarding/:id/reject", s.authed(s.decideOnboarding(false)))
	g.GET("/connections/:conn", s.authed(s.connectionPage))
	g.POST("/connections/:conn/setup-links", s.authed(s.createSetupLink))
	g.GET("/reviews", s.authed(s.reviewQueue))
	g.GET("/reviews/:id", s.authed(s.reviewPage))
	g.POST("/reviews/:id/items/:item/confirm", s.authed(s.decideItem(reviews.ItemConfirmed)))
	g.POST("/reviews/:id/items/:item/revoke", s.authed(s.decideItem(reviews.ItemRevoked)))
	g.GET("/orgs/:slug", s.authed(s.orgPage))
	g.GET("/orgs/:slug/brand.css", s.authed(s.brandCSS))
	g.POST("/orgs/:slug/grants", s.authed(s.orgGrant))
	g.POST("/orgs/:slug/grants/:id/revoke", s.authed(s.revokeOnOrg))
	g.POST("/orgs/:slug/mappings", s.authed(s.draftMapping))
	g.POST("/mappings/:id/approve", s.authed(s.approveMapping))
	s.registerOps(g)
	s.registerTrust(g)
	s.registerServiceAccounts(g)
	s.registerEngagements(g)
	g.POST("/mappings/:id/reject", s.authed(s.rejectMapping))
	g.GET("/orgs/:slug/delegations", s.authed(s.delegationsPage))
	g.POST("/orgs/:slug/delegations", s.authed(s.grantDelegation))
	g.GET("/delegations/:id", s.authed(s.delegationPage))
	g.POST("/delegations/:id/revoke", s.authed(s.revokeDelegation))
	g.GET("/elevations", s.authed(s.elevationsPage))
	g.POST("/elevations", s.authed(s.requestElevation))
	g.POST("/elevations/:id/approve", s.authed(s.decideElevation(true)))
	g.POST("/elevations/:id/deny", s.authed(s.decideElevation(false)))
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// headers set on every console answer: its policy, no caching of pages that show
// people and access, no referrer to carry paths to other sites.
func (s *Server) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: with no-referrer the browser sends "Origin: null" on
		// the console's own forms, and sameOrigin could not tell them from another site's.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if !strings.HasPrefix(c.Request().URL.Path, Prefix+"/static/") {
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

const personKey = "console.person"

func person(c echo.Context) *sessions.Person {
	p, _ := c.Get(personKey).(*sessions.Person)
	return p
}

// authed resumes the request's session, which re-checks the person now, and refuses
// a form post without the session's CSRF token. Without a session cookie the browser
// is sent to sign in; with one that no longer works the page says why.
func (s *Server) authed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			return c.Redirect(http.StatusSeeOther, Prefix+"/sign-in")
		}
		// One request is one decision: each delegation's chain is read once. Until the
		// session is known, what resuming records (a sign-out because the person no
		// longer stands) is the console's own doing.
		ctx := orgs.WithDecision(r.Context())
		src := audit.Source{Actor: "system:console", RequestID: c.Response().Header().Get(echo.HeaderXRequestID), ClientAddr: c.RealIP()}
		p, err := s.Sessions.Resume(audit.WithSource(ctx, src), ck.Value)
		if orgscim.ErrorCode(err) == orgscim.Unauthorized {
			s.clearCookie(c, sessionCookie, Prefix)
			return s.render(c, http.StatusUnauthorized, "message", view{Title: "Signed out", Page: message{
				ID: "signed-out", Heading: "You have been signed out", Text: orgscim.ErrorMessage(err), SignIn: true}})
		}
		if err != nil {
			return err
		}
		if r.Method == http.MethodPost {
			if !s.sameOrigin(c) || subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(p.Session.CSRF)) != 1 {
				return orgscim.Errorf(orgscim.Forbidden, "this form has expired or did not come from the console: reload the page and try again")
			}
		}
		src.Actor = sessions.Actor(p.Session)
		c.SetRequest(r.WithContext(audit.WithSource(ctx, src)))
		c.Set(personKey, p)
		return next(c)
	}
}

// sameOrigin refuses a post whose Origin, when the browser sends one, is another site.
func (s *Server) sameOrigin(c echo.Context) bool {
	o := c.Request().Header.Get("Origin")
	if o == "" {
		return true
	}
	return o == s.base(c)
}

func (s *Server) setCookie(c echo.Context, name, value, path string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure(c), SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearCookie(c echo.Context, name, path string) {
	s.setCookie(c, name, "", path, -1)
}

// view is what every page's layout shows.
type view struct {
	Title  string
	Person *sessions.Person
	Who    string
	CSRF   string
	Page   any
	// Brand is the partner's the page is about (nil: none), coloured by BrandCSS.
	Brand    *setuppage.Brand
	BrandCSS string
	// Onboards: the person may propose partners (an operator, or a delegate who may delegate).
	Onboards bool
}

// message is a page that says one thing: signed out, refused, not found.
type message struct {
	ID, Heading, Text string
	SignIn            bool
}

func (s *Server) render(c echo.Context, status int, name string, v view) error {
	if p := person(c); p != nil {
		v.Person, v.CSRF = p, p.Session.CSRF
		v.Who = who(p)
		v.Onboards = p.Operator != ""
		for _, h := range p.Delegations {
			v.Onboards = v.Onboards || h.Delegation.Has(orgs.CapDelegate)
		}
	}
	var b strings.Builder
	if err := pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		return err
	}
	return c.HTML(status, b.String())
}

func who(p *sessions.Person) string {
	if p.Operator != "" {
		return p.Operator + " (operator)"
	}
	name := p.User.DisplayName
	if name == "" {
		name = p.User.UserName
	}
	return name + " (" + p.Connection.Slug + ")"
}

// HandleError answers an error under Prefix as a page. Domain errors show their
// message; anything else is logged and shown as a generic failure.
func (s *Server) HandleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, text := http.StatusInternalServerError, "Something went wrong on our side. Try again in a moment."
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		code = he.Code
		if code < 500 {
			text = http.StatusText(code)
		} else {
			s.logger().Error("console error", slog.String("route", c.Path()), slog.String("error", err.Error()))
		}
	case orgscim.ErrorCode(err) != orgscim.Internal:
		code, text = httpstatus.Of(orgscim.ErrorCode(err)), orgscim.ErrorMessage(err)
	default:
		s.logger().Error("console error", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("route", c.Path()), slog.String("error", err.Error()))
	}
	heading := http.StatusText(code)
	if err := s.render(c, code, "message", view{Title: heading, Page: message{ID: "refused", Heading: heading, Text: text}}); err != nil {
		s.logger().Error("console error page", slog.String("error", err.Error()))
	}
}
