package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/sessions"
)

// StepUpMaxAge is how recent the authentication behind an action that hands out
// authority must be: approving an elevation, approving a mapping to a privileged role,
// creating a delegation, approving a held reconciler plan, consenting to an MSP
// engagement for the customer or the vendor. A session left open on a
// desk is good for reading, not for these.
const StepUpMaxAge = 5 * time.Minute

// stepUpSkew is how far in this server's future an authentication time may lie and
// still count as fresh: the IdP stamps auth_time with its own clock, and a second or
// two of skew must not send a person who has just signed in round the loop again.
const stepUpSkew = time.Minute

// backCookie holds the form a person was sent away from to re-authenticate; the
// sign-in that follows returns there.
const backCookie = "orgscim_console_back"

// stepUpView is the page that sends a person to authenticate again.
type stepUpView struct {
	AuthAt   time.Time
	MaxAge   string
	Operator string
	// SignIn is where a delegate re-authenticates at their IdP (prompt=login, max_age).
	SignIn string
	Back   string
}

func (s *Server) now() time.Time {
	if s.Sessions.Now != nil {
		return s.Sessions.Now().UTC()
	}
	return time.Now().UTC()
}

// StepUp is the check of every action that needs a recent authentication; any page
// calls it before the domain call. When the person authenticated within StepUpMaxAge
// it returns the request's context carrying that time, so that the action's audit
// events record it, and fresh is true. Otherwise it has answered the request with a
// page that sends the person to authenticate again — their IdP with prompt=login and
// max_age for a delegate, a fresh one-time link for an operator — and back to the page
// back (a path under the console, where the form is), and fresh is false.
func (s *Server) StepUp(c echo.Context, back string) (ctx context.Context, fresh bool, err error) {
	p := person(c)
	at := p.Session.AuthAt
	if age := s.now().Sub(at); age >= -stepUpSkew && age <= StepUpMaxAge {
		return audit.WithStepUp(c.Request().Context(), at), true, nil
	}
	if !localPath(back) {
		back = Prefix + "/"
	}
	s.setCookie(c, backCookie, back, Prefix, int((10 * time.Minute).Seconds()))
	v := stepUpView{AuthAt: at, MaxAge: minutes(StepUpMaxAge), Operator: p.Operator, Back: back}
	if p.Session.Kind == sessions.KindDelegate {
		v.SignIn = Prefix + "/sign-in/" + url.PathEscape(p.Connection.Slug) + "?step_up=1"
	}
	return nil, false, s.render(c, http.StatusUnauthorized, "stepup", view{Title: "Confirm it is you", Page: v})
}

// localPath admits only a path of the console itself as a place to return to, never
// another site ("//evil.example" is one).
func localPath(p string) bool {
	return strings.HasPrefix(p, Prefix+"/") && !strings.HasPrefix(p, "//") && !strings.Contains(p, "\\") &&
		!strings.ContainsAny(p, "\r\n")
}

// returnTo is where a sign-in lands: the form a step-up sent the person away from, or
// the console's home.
func (s *Server) returnTo(c echo.Context) string {
	ck, err := c.Cookie(backCookie)
	if err != nil {
		return Prefix + "/"
	}
	s.clearCookie(c, backCookie, Prefix)
	if localPath(ck.Value) {
		return ck.Value
	}
	return Prefix + "/"
}

// replaceSession ends the session a new sign-in in the same browser replaces: a
// step-up leaves no older, staler session behind.
func (s *Server) replaceSession(c echo.Context, ctx context.Context) {
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := s.Sessions.SignOut(ctx, ck.Value); err != nil {
			s.logger().Warn("console: ending the replaced session", "error", err.Error())
		}
	}
}
