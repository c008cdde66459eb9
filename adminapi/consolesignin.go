package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/sessions"
)

// ConsoleSignInRequest configures how a connection's administrators sign in to the
// console: OpenID Connect at the IdP that provisions the connection.
type ConsoleSignInRequest struct {
	Issuer       string `json:"issuer" doc:"the IdP's issuer URL (https; http only on 127.0.0.1 or localhost)"`
	ClientID     string `json:"client_id" doc:"the console's client id at the IdP"`
	ClientSecret string `json:"client_secret" doc:"write-only: stored, never returned or logged"`
	Claim        string `json:"claim" doc:"sub or oid (matched to the SCIM user's externalId), email or preferred_username (matched to userName)"`
}

// ConsoleSignIn is a connection's console sign-in, without its secret.
type ConsoleSignIn struct {
	Connection      string    `json:"connection"`
	Issuer          string    `json:"issuer"`
	ClientID        string    `json:"client_id"`
	ClientSecretSet bool      `json:"client_secret_set" doc:"the secret is never returned"`
	Claim           string    `json:"claim"`
	SignInURL       string    `json:"sign_in_url" doc:"where the connection's administrators start; the redirect URI to register at the IdP is /console/sign-in/callback"`
	UpdatedAt       time.Time `json:"updated_at"`
}

func (s *Server) consoleSignInJSON(c echo.Context, slug string, x *sessions.SignIn) ConsoleSignIn {
	return ConsoleSignIn{Connection: slug, Issuer: x.Issuer, ClientID: x.ClientID, ClientSecretSet: x.ClientSecret != "",
		Claim: x.Claim, SignInURL: "/console/sign-in/" + slug, UpdatedAt: x.Updated}
}

func (s *Server) getConsoleSignIn(c echo.Context) error {
	ctx := c.Request().Context()
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	if s.SignIns == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "the console is not served here")
	}
	conn, err := s.Directory.Connection(ctx, c.Param("slug"))
	if err != nil {
		return err
	}
	x, err := s.SignIns.SignInOf(ctx, conn)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.consoleSignInJSON(c, conn.Slug, x))
}

func (s *Server) putConsoleSignIn(c echo.Context) error {
	ctx := c.Request().Context()
	if s.SignIns == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "the console is not served here")
	}
	var req ConsoleSignInRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	conn, err := s.Directory.Connection(ctx, c.Param("slug"))
	if err != nil {
		return err
	}
	x, err := s.SignIns.Configure(ctx, principal(c), conn, sessions.SignIn{Issuer: req.Issuer, ClientID: req.ClientID,
		ClientSecret: req.ClientSecret, Claim: req.Claim})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.consoleSignInJSON(c, conn.Slug, x))
}
