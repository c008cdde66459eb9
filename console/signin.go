package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/sessions"
	"golang.org/x/oauth2"
)

// signInView is the sign-in page: a partner administrator names their organisation's
// connection; operators are told how to get a link.
type signInView struct {
	Connection string
	Problem    string
}

func (s *Server) signInPage(c echo.Context) error {
	if slug := strings.TrimSpace(c.QueryParam("connection")); slug != "" {
		return c.Redirect(http.StatusSeeOther, Prefix+"/sign-in/"+urlSegment(slug))
	}
	return s.render(c, http.StatusOK, "signin", view{Title: "Sign in", Page: signInView{}})
}

func urlSegment(s string) string {
	return strings.NewReplacer("/", "%2F", "?", "%3F", "#", "%23").Replace(s)
}

func (s *Server) client() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// relyingParty is the OpenID Connect client of one connection's sign-in.
func (s *Server) relyingParty(c echo.Context, cfg *sessions.SignIn) (context.Context, *oidc.Provider, *oauth2.Config, error) {
	ctx := oidc.ClientContext(c.Request().Context(), s.client())
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		s.logger().Warn("console sign-in: the IdP's discovery failed", "issuer", cfg.Issuer, "error", err.Error())
		return nil, nil, nil, orgscim.Errorf(orgscim.Unauthorized, "your organisation's identity provider cannot be reached right now; try again later")
	}
	oc := &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Endpoint: provider.Endpoint(),
		RedirectURL: s.base(c) + Prefix + "/sign-in/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email"}}
	return ctx, provider, oc, nil
}

func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// startSignIn sends the browser to the IdP of the connection, with state, nonce and a
// PKCE challenge; the three secrets wait in a short-lived cookie for the callback.
func (s *Server) startSignIn(c echo.Context) error {
	ctx := c.Request().Context()
	conn, err := s.Directory.Connection(ctx, c.Param("conn"))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return s.signInRefused(c, http.StatusNotFound, "There is no connection "+c.Param("conn")+" with a console sign-in.")
	}
	if err != nil {
		return err
	}
	cfg, err := s.Sessions.SignInOf(ctx, conn)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return s.signInRefused(c, http.StatusNotFound, "There is no connection "+c.Param("conn")+" with a console sign-in.")
	}
	if err != nil {
		return err
	}
	_, _, oc, err := s.relyingParty(c, cfg)
	if err != nil {
		return s.signInRefused(c, http.StatusBadGateway, orgscim.ErrorMessage(err))
	}
	state, nonce, verifier := randomToken(), randomToken(), oauth2.GenerateVerifier()
	s.setCookie(c, loginCookie, strings.Join([]string{conn.Slug, state, nonce, verifier}, "~"), Prefix+"/sign-in", 600)
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if c.QueryParam("step_up") == "1" {
		// A step-up: the IdP must authenticate the person now, not vouch for an old sign-in.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"),
			oauth2.SetAuthURLParam("max_age", fmt.Sprint(int(StepUpMaxAge.Seconds()))))
	}
	return c.Redirect(http.StatusFound, oc.AuthCodeURL(state, opts...))
}

func (s *Server) signInRefused(c echo.Context, code int, text string) error {
	return s.render(c, code, "message", view{Title: "Sign-in refused", Page: message{ID: "refused",
		Heading: "You cannot sign in", Text: text, SignIn: true}})
}

// callback finishes an OpenID Connect sign-in: the state must match the cookie's, the
// code is exchanged with the PKCE verifier, the ID token verified (signature, issuer,
// audience, expiry, nonce), and its configured claim finds the SCIM user.
func (s *Server) callback(c echo.Context) error {
	ck, err := c.Cookie(loginCookie)
	s.clearCookie(c, loginCookie, Prefix+"/sign-in")
	parts := []string{}
	if err == nil {
		parts = strings.Split(ck.Value, "~")
	}
	if len(parts) != 4 || subtle.ConstantTimeCompare([]byte(parts[1]), []byte(c.QueryParam("state"))) != 1 {
		return s.signInRefused(c, http.StatusBadRequest, "This sign-in was not started here or took too long. Start again.")
	}
	if e := c.QueryParam("error"); e != "" {
		return s.signInRefused(c, http.StatusUnauthorized, "Your identity provider refused the sign-in.")
	}
	slug, nonce, verifier := parts[0], parts[2], parts[3]
	ctx := c.Request().Context()
	conn, err := s.Directory.Connection(ctx, slug)
	if err != nil {
		return err
	}
	cfg, err := s.Sessions.SignInOf(ctx, conn)
	if err != nil {
		return err
	}
	octx, provider, oc, err := s.relyingParty(c, cfg)
	if err != nil {
		return s.signInRefused(c, http.StatusBadGateway, orgscim.ErrorMessage(err))
	}
	tok, err := oc.Exchange(octx, c.QueryParam("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		s.logger().Warn("console sign-in: code exchange failed", "connection", conn.Slug, "error", err.Error())
		return s.signInRefused(c, http.StatusUnauthorized, "Your identity provider did not confirm the sign-in.")
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.VerifierContext(octx, &oidc.Config{ClientID: cfg.ClientID, Now: s.Sessions.Now}).Verify(octx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		if err == nil {
			err = fmt.Errorf("nonce mismatch")
		}
		s.logger().Warn("console sign-in: ID token refused", "connection", conn.Slug, "error", err.Error())
		return s.signInRefused(c, http.StatusUnauthorized, "Your identity provider's answer could not be verified.")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return err
	}
	value, _ := claims[cfg.Claim].(string)
	authAt := idt.IssuedAt
	if at, ok := claims["auth_time"].(float64); ok && at > 0 {
		authAt = time.Unix(int64(at), 0).UTC()
	}
	sctx := audit.WithSource(ctx, audit.Source{Actor: "console:sign_in " + conn.Slug,
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID), ClientAddr: c.RealIP()})
	_, cookie, err := s.Sessions.SignInDelegate(sctx, conn, cfg, value, authAt)
	if orgscim.ErrorCode(err) == orgscim.Forbidden {
		return s.render(c, http.StatusForbidden, "message", view{Title: "No access", Page: message{ID: "no-delegation",
			Heading: "You cannot use the console", Text: orgscim.ErrorMessage(err) + "."}})
	}
	if err != nil {
		return err
	}
	s.replaceSession(c, sctx)
	s.setCookie(c, sessionCookie, cookie, Prefix, 0)
	return c.Redirect(http.StatusSeeOther, s.returnTo(c))
}

// linkView is the page of a one-time link: a button, so that scanners and previews
// that fetch the URL do not use it up.
type linkView struct{ Action string }

func (s *Server) linkPage(c echo.Context) error {
	return s.render(c, http.StatusOK, "link", view{Title: "Sign in", Page: linkView{Action: Prefix + "/link/" + c.Param("secret")}})
}

func (s *Server) redeemLink(c echo.Context) error {
	// Another site could otherwise sign a visitor's browser in as the operator whose link
	// it holds, and watch what they do; refused before the link is used up.
	if !s.sameOrigin(c) {
		return orgscim.Errorf(orgscim.Forbidden, "this sign-in link was posted from another site; open it yourself")
	}
	ctx := audit.WithSource(c.Request().Context(), audit.Source{Actor: "console:link",
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID), ClientAddr: c.RealIP()})
	_, cookie, err := s.Sessions.RedeemLink(ctx, c.Param("secret"))
	if orgscim.ErrorCode(err) == orgscim.Unauthorized {
		return s.render(c, http.StatusGone, "message", view{Title: "Link used", Page: message{ID: "refused",
			Heading: "This link cannot be used", Text: orgscim.ErrorMessage(err) + ". Ask for a new one: orgscim console link --operator NAME."}})
	}
	if err != nil {
		return err
	}
	s.replaceSession(c, ctx)
	s.setCookie(c, sessionCookie, cookie, Prefix, 0)
	return c.Redirect(http.StatusSeeOther, s.returnTo(c))
}

// signOut revokes the session server-side. It needs the session's CSRF token, so that
// another site cannot sign a person out.
func (s *Server) signOut(c echo.Context) error {
	ck, err := c.Cookie(sessionCookie)
	if err == nil && ck.Value != "" {
		p, rerr := s.Sessions.Resume(c.Request().Context(), ck.Value)
		if rerr == nil {
			if subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(p.Session.CSRF)) != 1 || !s.sameOrigin(c) {
				return orgscim.Errorf(orgscim.Forbidden, "this form has expired or did not come from the console: reload the page and try again")
			}
			ctx := audit.WithSource(c.Request().Context(), audit.Source{Actor: sessions.Actor(p.Session),
				RequestID: c.Response().Header().Get(echo.HeaderXRequestID), ClientAddr: c.RealIP()})
			if err := s.Sessions.SignOut(ctx, ck.Value); err != nil {
				return err
			}
		}
	}
	s.clearCookie(c, sessionCookie, Prefix)
	return s.render(c, http.StatusOK, "message", view{Title: "Signed out", Page: message{ID: "signed-out",
		Heading: "You have signed out", Text: "Your session has ended.", SignIn: true}})
}
