package adminapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/orgs"
)

// HealthReader reads the stored health of connections.
type HealthReader interface {
	Health(ctx context.Context, connectionID string) (*connhealth.Health, error)
	RequestLog(ctx context.Context, connectionID string, limit int) ([]connhealth.Logged, error)
}

// ConnectionHealth is how a connection's IdP is doing.
type ConnectionHealth struct {
	Connection     string         `json:"connection"`
	Status         string         `json:"status" doc:"the connection's status: a suspended connection's requests are refused"`
	Requests       int64          `json:"requests" doc:"authenticated SCIM requests ever answered"`
	ClientErrors   int64          `json:"client_errors" doc:"of them answered 4xx"`
	ServerErrors   int64          `json:"server_errors" doc:"of them answered 5xx"`
	LastRequestAt  *time.Time     `json:"last_request_at"`
	LastPushAt     *time.Time     `json:"last_push_at" doc:"the last POST, PUT, PATCH or DELETE"`
	LastSuccessAt  *time.Time     `json:"last_success_at"`
	LastErrorAt    *time.Time     `json:"last_error_at"`
	Rejected       int64          `json:"rejected" doc:"requests to the connection's URL whose bearer token was refused (wrong, revoked or expired): not in requests, not logged"`
	LastRejectedAt *time.Time     `json:"last_rejected_at"`
	UsableTokens   int            `json:"usable_tokens"`
	Rotation       *Rotation      `json:"rotation" doc:"the token rotation in progress, null when none"`
	TokenWarnings  []TokenWarning `json:"token_warnings" doc:"usable tokens that lapse within the server's warning window, soonest first"`
}

// TokenWarning is a usable token about to lapse.
type TokenWarning struct {
	TokenID          string    `json:"token_id"`
	Hint             string    `json:"hint"`
	ExpiresAt        time.Time `json:"expires_at"`
	ExpiresInSeconds int64     `json:"expires_in_seconds"`
}

// Rotation is a token rotation in progress.
type Rotation struct {
	Connection   string    `json:"connection"`
	NewTokenID   string    `json:"new_token_id"`
	StartedAt    time.Time `json:"started_at"`
	NewTokenUsed bool      `json:"new_token_used" doc:"the IdP has authenticated with the new token: the rotation may complete"`
}

// LoggedRequest is one entry of a connection's request log: no header is kept, and
// password (and other secret) values in the bodies are replaced by "[redacted]".
type LoggedRequest struct {
	Seq          int64     `json:"seq" doc:"the request's number in the connection's log"`
	At           time.Time `json:"at"`
	Method       string    `json:"method"`
	Path         string    `json:"path" doc:"with the query parameters of a SCIM query (filter, startIndex, count, sortBy, sortOrder, attributes, excludedAttributes) only"`
	Status       int       `json:"status"`
	ScimType     string    `json:"scim_type,omitempty"`
	Detail       string    `json:"detail,omitempty" doc:"the SCIM error's detail"`
	LatencyMs    float64   `json:"latency_ms"`
	RequestID    string    `json:"request_id" doc:"as in the X-Request-Id response header and the audit trail"`
	RequestBody  string    `json:"request_body,omitempty" doc:"redacted, cut to 4 KB"`
	ResponseBody string    `json:"response_body,omitempty" doc:"redacted, cut to 4 KB"`
}

// RequestLog is a connection's last requests, newest first.
type RequestLog struct {
	Connection string          `json:"connection"`
	Items      []LoggedRequest `json:"items"`
}

// CompleteRotationRequest completes a rotation.
type CompleteRotationRequest struct {
	Force bool `json:"force,omitempty" doc:"complete even though the new token has not been used yet (the IdP is cut off if it still sends the old one)"`
}

// RotationStarted is a started rotation with the new token's secret.
type RotationStarted struct {
	Rotation Rotation    `json:"rotation"`
	Token    IssuedToken `json:"token"`
}

// RotationEnded is what completing or cancelling a rotation did.
type RotationEnded struct {
	Connection      string   `json:"connection"`
	NewTokenID      string   `json:"new_token_id"`
	RevokedTokenIDs []string `json:"revoked_token_ids"`
}

// healthConnection resolves the slug and checks the caller may see the connection.
func (s *Server) healthConnection(c echo.Context) (*orgs.Connection, HealthReader, error) {
	if s.Health == nil {
		return nil, nil, orgscim.Errorf(orgscim.NotImplemented, "connection health is not available")
	}
	conn, err := s.visibleConnection(c)
	if err != nil {
		return nil, nil, err
	}
	return conn, s.Health, nil
}

func (s *Server) connectionHealth(c echo.Context) error {
	conn, hr, err := s.healthConnection(c)
	if err != nil {
		return err
	}
	out, err := HealthOf(c.Request().Context(), s.Directory, hr, conn, s.now(), s.TokenExpiryWarning)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// HealthOf builds the health report of conn at now, warning of tokens that lapse
// within window (0: orgs.DefaultTokenExpiryWarning). The CLI prints the same report.
func HealthOf(ctx context.Context, dir *orgs.Directory, hr HealthReader, conn *orgs.Connection, now time.Time, window time.Duration) (ConnectionHealth, error) {
	h, err := hr.Health(ctx, conn.ID)
	if err != nil {
		return ConnectionHealth{}, err
	}
	tokens, err := dir.Store.Tokens(ctx, conn.ID)
	if err != nil {
		return ConnectionHealth{}, err
	}
	rot, err := dir.RotationOf(ctx, conn.ID)
	if err != nil && orgscim.ErrorCode(err) != orgscim.NotImplemented {
		return ConnectionHealth{}, err
	}
	out := ConnectionHealth{Connection: conn.Slug, Status: conn.Status, Requests: h.Requests, ClientErrors: h.ClientErrors,
		ServerErrors: h.ServerErrors, LastRequestAt: h.LastRequest, LastPushAt: h.LastPush, LastSuccessAt: h.LastSuccess,
		LastErrorAt: h.LastError, Rejected: h.Rejected, LastRejectedAt: h.LastRejected, TokenWarnings: []TokenWarning{}}
	for _, t := range tokens {
		if t.Usable(now) {
			out.UsableTokens++
		}
	}
	if rot != nil {
		r := rotationJSON(conn.Slug, rot, tokens)
		out.Rotation = &r
	}
	if window <= 0 {
		window = orgs.DefaultTokenExpiryWarning
	}
	for _, t := range orgs.ExpiringTokens(tokens, now, window) {
		out.TokenWarnings = append(out.TokenWarnings, TokenWarning{TokenID: t.ID, Hint: t.Hint, ExpiresAt: *t.Expires,
			ExpiresInSeconds: int64(t.Expires.Sub(now) / time.Second)})
	}
	return out, nil
}

func rotationJSON(slug string, r *orgs.Rotation, tokens []*orgs.Token) Rotation {
	out := Rotation{Connection: slug, NewTokenID: r.TokenID, StartedAt: r.Started}
	for _, t := range tokens {
		if t.ID == r.TokenID && t.LastUsed != nil {
			out.NewTokenUsed = true
		}
	}
	return out
}

func (s *Server) connectionRequests(c echo.Context) error {
	conn, hr, err := s.healthConnection(c)
	if err != nil {
		return err
	}
	limit := connhealth.Keep
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > connhealth.Keep {
			return orgscim.Errorf(orgscim.Invalid, "limit must be an integer from 1 to %d", connhealth.Keep)
		}
	}
	out, err := RequestLogOf(c.Request().Context(), hr, conn, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// RequestLogOf returns up to limit of conn's last logged requests, newest first.
func RequestLogOf(ctx context.Context, hr HealthReader, conn *orgs.Connection, limit int) (RequestLog, error) {
	log, err := hr.RequestLog(ctx, conn.ID, limit)
	if err != nil {
		return RequestLog{}, err
	}
	out := RequestLog{Connection: conn.Slug, Items: make([]LoggedRequest, 0, len(log))}
	for _, l := range log {
		out.Items = append(out.Items, LoggedRequest{Seq: l.Seq, At: l.At, Method: l.Method, Path: l.Path, Status: l.Status,
			ScimType: l.ScimType, Detail: l.Detail, LatencyMs: float64(l.Latency.Microseconds()) / 1000, RequestID: l.RequestID,
			RequestBody: l.RequestBody, ResponseBody: l.ResponseBody})
	}
	return out, nil
}

func (s *Server) startRotation(c echo.Context) error {
	expires, err := newTokenExpiry(c)
	if err != nil {
		return err
	}
	slug := c.Param("slug")
	r, t, secret, err := s.Directory.StartRotation(c.Request().Context(), slug, expires)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, RotationStarted{
		Rotation: Rotation{Connection: slug, NewTokenID: r.TokenID, StartedAt: r.Started},
		Token:    IssuedToken{Token: tokenJSON(slug, t), Secret: secret}})
}

func (s *Server) completeRotation(c echo.Context) error {
	ctx := c.Request().Context()
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	var req CompleteRotationRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	res, err := s.Directory.CompleteRotation(ctx, c.Param("slug"), req.Force)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rotationEnded(c.Param("slug"), res))
}

func (s *Server) cancelRotation(c echo.Context) error {
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	res, err := s.Directory.CancelRotation(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rotationEnded(c.Param("slug"), res))
}

func rotationEnded(slug string, r *orgs.RotationResult) RotationEnded {
	revoked := append([]string{}, r.Revoked...)
	return RotationEnded{Connection: slug, NewTokenID: r.Rotation.TokenID, RevokedTokenIDs: revoked}
}
