package ssf

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
)

// Paths of the transmitter.
const (
	ConfigurationPath = "/.well-known/ssf-configuration"
	JWKSPath          = "/ssf/jwks"
	StreamPath        = "/ssf/stream"
	StatusPath        = "/ssf/status"
	AddSubjectPath    = "/ssf/subjects/add"
	RemoveSubjectPath = "/ssf/subjects/remove"
	VerifyPath        = "/ssf/verify"
	PollPath          = "/ssf/poll/" // + stream id
)

// Poll bounds (RFC 8936).
const (
	DefaultMaxEvents = 100
	MaxEvents        = 1000
	DefaultPollWait  = 15 * time.Second // the longest a poll without returnImmediately waits
	DefaultPollLease = 30 * time.Second // how long a polled, unacknowledged SET is not returned again
)

// Server serves the transmitter's configuration, keys, stream management and polls.
type Server struct {
	Streams *Streams
	Outbox  Outbox
	Keys    *Keyring
	// Issuer is the transmitter's URL as receivers reach it, and every SET's iss;
	// empty: the scheme and host of each request (then SETs pushed in the background
	// carry the Pusher's Issuer, which must be the same).
	Issuer    string
	PollWait  time.Duration
	PollLease time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// RateLimit is a receiver's requests per second on its authenticated endpoints: 0
	// DefaultRateLimit, negative none; RateBurst its burst, default twice the rate.
	// Beyond it a request is answered 429 rate_limited with Retry-After.
	RateLimit float64
	RateBurst int

	limits receiverLimits
}

// Register mounts the transmitter on e.
func (s *Server) Register(e *echo.Echo) {
	e.GET(ConfigurationPath, s.configuration)
	e.GET(JWKSPath, s.jwks)
	e.GET(OpenAPIPath, s.openapi)
	e.GET(StreamPath, s.auth(s.readStream))
	e.POST(StreamPath, s.auth(s.createStream))
	e.PATCH(StreamPath, s.auth(s.updateStream(false)))
	e.PUT(StreamPath, s.auth(s.updateStream(true)))
	e.DELETE(StreamPath, s.auth(s.deleteStream))
	e.GET(StatusPath, s.auth(s.getStatus))
	e.POST(StatusPath, s.auth(s.setStatus))
	e.POST(AddSubjectPath, s.auth(s.addSubject))
	e.POST(RemoveSubjectPath, s.auth(s.removeSubject))
	e.POST(VerifyPath, s.auth(s.verify))
	e.POST(PollPath+":id", s.auth(s.poll))
}

// Owns tells whether path is the transmitter's, so that its errors are answered by
// HandleError.
func Owns(path string) bool {
	return path == ConfigurationPath || path == "/ssf" || strings.HasPrefix(path, "/ssf/")
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Server) base(c echo.Context) string {
	if b := strings.TrimSuffix(s.Issuer, "/"); b != "" {
		return b
	}
	return c.Scheme() + "://" + c.Request().Host
}

// Configuration is the transmitter's metadata (SSF 1.0 §7.1).
type Configuration struct {
	SpecVersion              string           `json:"spec_version"`
	Issuer                   string           `json:"issuer"`
	JWKSURI                  string           `json:"jwks_uri"`
	DeliveryMethodsSupported []string         `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string           `json:"configuration_endpoint"`
	StatusEndpoint           string           `json:"status_endpoint"`
	AddSubjectEndpoint       string           `json:"add_subject_endpoint"`
	RemoveSubjectEndpoint    string           `json:"remove_subject_endpoint"`
	VerificationEndpoint     string           `json:"verification_endpoint"`
	AuthorizationSchemes     []map[string]any `json:"authorization_schemes"`
	DefaultSubjects          string           `json:"default_subjects"`
}

func (s *Server) configuration(c echo.Context) error {
	b := s.base(c)
	return c.JSON(http.StatusOK, Configuration{SpecVersion: "1_0", Issuer: b, JWKSURI: b + JWKSPath,
		DeliveryMethodsSupported: []string{PushMethod, PollMethod},
		ConfigurationEndpoint:    b + StreamPath, StatusEndpoint: b + StatusPath,
		AddSubjectEndpoint: b + AddSubjectPath, RemoveSubjectEndpoint: b + RemoveSubjectPath,
		VerificationEndpoint: b + VerifyPath,
		AuthorizationSchemes: []map[string]any{{"spec_urn": "urn:ietf:rfc:6750"}},
		DefaultSubjects:      "ALL"})
}

func (s *Server) jwks(c echo.Context) error {
	set, err := s.Keys.JWKS(s.now())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "max-age=300")
	return c.JSON(http.StatusOK, set)
}

const receiverKey = "ssf.receiver"

func (s *Server) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			token, ok = strings.CutPrefix(h, "bearer ")
		}
		if !ok || token == "" {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ssf"`)
			return orgscim.Errorf(orgscim.Unauthorized, "a receiver's bearer token is required")
		}
		r, err := s.Streams.Authenticate(c.Request().Context(), strings.TrimSpace(token))
		if err != nil {
			if orgscim.ErrorCode(err) == orgscim.Unauthorized {
				c.Response().Header().Set("WWW-Authenticate", `Bearer realm="ssf", error="invalid_token"`)
			}
			return err
		}
		if err := s.allow(c, r.ID); err != nil {
			return err
		}
		c.Set(receiverKey, r)
		return next(c)
	}
}

func receiverOf(c echo.Context) *Receiver { return c.Get(receiverKey).(*Receiver) }

// decode reads a JSON object body into v: a body that is not one is Invalid.
func decode(c echo.Context, v any) error {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return orgscim.Errorf(orgscim.TooLarge, "the request body is too large")
		}
		return orgscim.Errorf(orgscim.Invalid, "the request body could not be read")
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return orgscim.Errorf(orgscim.Invalid, "the request body must be a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return orgscim.Errorf(orgscim.Invalid, "%s has the wrong type", te.Field)
		}
		return orgscim.Errorf(orgscim.Invalid, "the request body is not valid JSON")
	}
	return nil
}

// StreamConfig is a stream's configuration as the API shows it (SSF 1.0 §8.1.1). The
// authorization header a push stream sends is never shown back.
type StreamConfig struct {
	StreamID        string         `json:"stream_id"`
	Iss             string         `json:"iss"`
	Aud             string         `json:"aud"`
	EventsSupported []string       `json:"events_supported"`
	EventsRequested []string       `json:"events_requested"`
	EventsDelivered []string       `json:"events_delivered"`
	Delivery        DeliveryConfig `json:"delivery"`
	Description     string         `json:"description,omitempty"`
	// MinVerificationInterval is MinVerificationInterval in seconds (SSF 1.0 §8.1.1).
	MinVerificationInterval int `json:"min_verification_interval"`
}

// DeliveryConfig is a stream's delivery method.
type DeliveryConfig struct {
	Method              string `json:"method"`
	EndpointURL         string `json:"endpoint_url,omitempty"`
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

func (s *Server) config(c echo.Context, st *Stream) StreamConfig {
	ep := st.EndpointURL
	if st.Method == PollMethod {
		ep = s.base(c) + PollPath + st.ID
	}
	req := st.EventsRequested
	if req == nil {
		req = []string{}
	}
	return StreamConfig{StreamID: st.ID, Iss: s.base(c), Aud: receiverOf(c).Audience, EventsSupported: Supported,
		EventsRequested: req, EventsDelivered: st.EventsDelivered(),
		Delivery: DeliveryConfig{Method: st.Method, EndpointURL: ep}, Description: st.Description,
		MinVerificationInterval: int(MinVerificationInterval / time.Second)}
}

type streamBody struct {
	StreamID        *string   `json:"stream_id"`
	Description     *string   `json:"description"`
	EventsRequested *[]string `json:"events_requested"`
	Delivery        *struct {
		Method              *string `json:"method"`
		EndpointURL         *string `json:"endpoint_url"`
		AuthorizationHeader *string `json:"authorization_header"`
	} `json:"delivery"`
}

func (b streamBody) request() StreamRequest {
	r := StreamRequest{Description: b.Description, EventsRequested: b.EventsRequested}
	if b.Delivery != nil {
		r.Method, r.EndpointURL, r.AuthorizationHeader = b.Delivery.Method, b.Delivery.EndpointURL, b.Delivery.AuthorizationHeader
	}
	return r
}

func (s *Server) readStream(c echo.Context) error {
	r := receiverOf(c)
	if id := c.QueryParam("stream_id"); id != "" {
		st, err := s.Streams.Stream(c.Request().Context(), r, id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, s.config(c, st))
	}
	list, err := s.Streams.List(c.Request().Context(), r)
	if err != nil {
		return err
	}
	out := make([]StreamConfig, len(list))
	for i := range list {
		out[i] = s.config(c, &list[i])
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createStream(c echo.Context) error {
	var b streamBody
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.StreamID != nil {
		return orgscim.Errorf(orgscim.Invalid, "stream_id is assigned by the transmitter")
	}
	if b.Delivery == nil || b.Delivery.Method == nil {
		return orgscim.Errorf(orgscim.Invalid, "delivery.method is required")
	}
	st, err := s.Streams.CreateStream(c.Request().Context(), receiverOf(c), b.request())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.config(c, st))
}

func (s *Server) updateStream(replace bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b streamBody
		if err := decode(c, &b); err != nil {
			return err
		}
		if b.StreamID == nil || *b.StreamID == "" {
			return orgscim.Errorf(orgscim.Invalid, "stream_id is required")
		}
		st, err := s.Streams.UpdateStream(c.Request().Context(), receiverOf(c), *b.StreamID, b.request(), replace)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, s.config(c, st))
	}
}

func streamIDParam(c echo.Context) (string, error) {
	id := c.QueryParam("stream_id")
	if id == "" {
		return "", orgscim.Errorf(orgscim.Invalid, "the stream_id query parameter is required")
	}
	return id, nil
}

func (s *Server) deleteStream(c echo.Context) error {
	id, err := streamIDParam(c)
	if err != nil {
		return err
	}
	if err := s.Streams.DeleteStream(c.Request().Context(), receiverOf(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// StreamStatus is a stream's status (SSF 1.0 §8.1.2).
type StreamStatus struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

func (s *Server) getStatus(c echo.Context) error {
	id, err := streamIDParam(c)
	if err != nil {
		return err
	}
	st, err := s.Streams.Stream(c.Request().Context(), receiverOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, StreamStatus{StreamID: st.ID, Status: st.Status, Reason: st.Reason})
}

func (s *Server) setStatus(c echo.Context) error {
	var b StreamStatus
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.StreamID == "" {
		return orgscim.Errorf(orgscim.Invalid, "stream_id is required")
	}
	st, err := s.Streams.SetStatus(c.Request().Context(), receiverOf(c), b.StreamID, b.Status, b.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, StreamStatus{StreamID: st.ID, Status: st.Status, Reason: st.Reason})
}

type subjectBody struct {
	StreamID string          `json:"stream_id"`
	Subject  json.RawMessage `json:"subject"`
	Verified *bool           `json:"verified"`
}

func (b subjectBody) parse() (Subject, error) {
	if b.StreamID == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "stream_id is required")
	}
	var sub Subject
	if len(b.Subject) == 0 || json.Unmarshal(b.Subject, &sub) != nil || sub == nil {
		return nil, orgscim.Errorf(orgscim.Invalid, "subject must be a subject identifier object (RFC 9493)")
	}
	return sub, nil
}

func (s *Server) addSubject(c echo.Context) error {
	var b subjectBody
	if err := decode(c, &b); err != nil {
		return err
	}
	sub, err := b.parse()
	if err != nil {
		return err
	}
	if err := s.Streams.AddSubject(c.Request().Context(), receiverOf(c), b.StreamID, sub); err != nil {
		return err
	}
	return c.NoContent(http.StatusOK)
}

func (s *Server) removeSubject(c echo.Context) error {
	var b subjectBody
	if err := decode(c, &b); err != nil {
		return err
	}
	sub, err := b.parse()
	if err != nil {
		return err
	}
	if err := s.Streams.RemoveSubject(c.Request().Context(), receiverOf(c), b.StreamID, sub, string(b.Subject)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) verify(c echo.Context) error {
	var b struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.StreamID == "" {
		return orgscim.Errorf(orgscim.Invalid, "stream_id is required")
	}
	if err := s.Streams.Verify(c.Request().Context(), receiverOf(c), b.StreamID, b.State, json.Marshal); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// PollRequest is a poll (RFC 8936 §2.4).
type PollRequest struct {
	MaxEvents         *int                `json:"maxEvents"`
	ReturnImmediately bool                `json:"returnImmediately"`
	Ack               []string            `json:"ack"`
	SetErrs           map[string]SETError `json:"setErrs"`
}

// SETError is a receiver's reason for refusing a SET (RFC 8936 §2.4.3).
type SETError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// PollResponse is the answer to a poll (RFC 8936 §2.5).
type PollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable,omitempty"`
}

func (s *Server) poll(c echo.Context) error {
	var req PollRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	max := DefaultMaxEvents
	if req.MaxEvents != nil {
		if *req.MaxEvents < 0 || *req.MaxEvents > MaxEvents {
			return orgscim.Errorf(orgscim.Invalid, "maxEvents must be between 0 and %d", MaxEvents)
		}
		max = *req.MaxEvents
	}
	if len(req.Ack) > MaxEvents || len(req.SetErrs) > MaxEvents {
		return orgscim.Errorf(orgscim.Invalid, "at most %d acknowledgements and errors at once", MaxEvents)
	}
	errs := map[string]string{}
	for jti, e := range req.SetErrs {
		if e.Err == "" {
			return orgscim.Errorf(orgscim.Invalid, "setErrs[%q].err is required", jti)
		}
		reason := "refused by the receiver: " + e.Err
		if e.Description != "" {
			reason += ": " + e.Description
		}
		errs[jti] = reason
	}
	ctx := c.Request().Context()
	st, err := s.Streams.Stream(ctx, receiverOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	if st.Method != PollMethod {
		return orgscim.Errorf(orgscim.Invalid, "the stream is delivered by push, not poll")
	}
	lease := orDefault(s.PollLease, DefaultPollLease)
	deadline := s.now().Add(orDefault(s.PollWait, DefaultPollWait))
	acks := req.Ack
	for {
		ds, more, err := s.Outbox.Poll(ctx, st.ID, acks, errs, s.now(), lease, max)
		if err != nil {
			return err
		}
		acks, errs = nil, nil
		if len(ds) > 0 || req.ReturnImmediately || max == 0 || !s.now().Before(deadline) || st.Status != Enabled {
			resp := PollResponse{Sets: map[string]string{}, MoreAvailable: more}
			for i := range ds {
				tok, err := SignSET(s.Keys, s.base(c), &ds[i])
				if err != nil {
					return err
				}
				resp.Sets[ds[i].JTI] = tok
			}
			return c.JSON(http.StatusOK, resp)
		}
		select {
		case <-ctx.Done():
			return c.JSON(http.StatusOK, PollResponse{Sets: map[string]string{}})
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HandleError answers err as the error document of RFC 8935 §2.3 ({"err", "description"})
// with the status of its code. An error that is not the domain's is logged with a fresh
// id and answered as a generic 500 (503 when the database is unavailable).
func (s *Server) HandleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code < 500 {
		code := "invalid_request"
		switch he.Code {
		case http.StatusNotFound:
			code = "not_found"
		case http.StatusMethodNotAllowed:
			code = "method_not_allowed"
		case http.StatusRequestEntityTooLarge:
			code = "too_large"
		case http.StatusTooManyRequests:
			code = "rate_limited"
		}
		write(c, he.Code, code, http.StatusText(he.Code))
		return
	}
	code := orgscim.ErrorCode(err)
	if code != orgscim.Internal && he == nil {
		name := map[orgscim.Code]string{orgscim.Invalid: "invalid_request", orgscim.Unauthorized: "authentication_failed",
			orgscim.Forbidden: "access_denied", orgscim.NotFound: "not_found", orgscim.Conflict: "conflict",
			orgscim.TooLarge: "too_large", orgscim.RateLimited: "rate_limited"}[code]
		if name == "" {
			name = string(code)
		}
		write(c, httpstatus.Of(code), name, orgscim.ErrorMessage(err))
		return
	}
	id := orgscim.NewErrorID()
	s.logger().LogAttrs(c.Request().Context(), slog.LevelError, "ssf request failed",
		slog.String("error_id", id), slog.String("route", c.Path()), slog.String("error", err.Error()))
	if errors.Is(err, orgscim.ErrUnavailable) {
		c.Response().Header().Set("Retry-After", "1")
		write(c, http.StatusServiceUnavailable, "unavailable", "the database is unavailable; retry later (error id "+id+")")
		return
	}
	write(c, http.StatusInternalServerError, "internal_error", "internal error (error id "+id+")")
}

func write(c echo.Context, status int, code, msg string) {
	_ = c.JSON(status, map[string]string{"err": code, "description": msg})
}
