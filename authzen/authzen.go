package authzen

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/internal/httpstatus"
	"github.com/orgscim/orgscim/internal/keyauth"
	"github.com/orgscim/orgscim/orgs"
)

// Paths of the PDP.
const (
	ConfigurationPath = "/.well-known/authzen-configuration"
	EvaluationPath    = "/access/v1/evaluation"
	EvaluationsPath   = "/access/v1/evaluations"
)

// MaxEvaluations bounds one batch, so that one request cannot hold the database for
// long.
const MaxEvaluations = 1000

// Authenticator resolves an admin API key into the principal that holds it.
type Authenticator = keyauth.Authenticator

// Decider is the access check as principal p may ask it: Forbidden when the question
// lies outside p's scope; otherwise the decision and its explanation (JSON-encodable).
type Decider interface {
	Decide(ctx context.Context, p orgs.Principal, connection, user, permission, org string) (allowed bool, why any, err error)
}

// Question is one user evaluation in the access check's terms: slugs and a user id.
type Question struct {
	Connection, User, Permission, Org string
}

// Decided is one answer of a BatchDecider.
type Decided struct {
	Allowed bool
	Why     any
}

// BatchDecider is Decider for many questions at once, each answered as Decide answers
// it alone: for question i, answers[i], or errs[i] when it has none (Forbidden outside
// p's scope, NotFound); err fails the whole batch.
type BatchDecider interface {
	DecideMany(ctx context.Context, p orgs.Principal, qs []Question) (answers []Decided, errs []error, err error)
}

// Server serves the PDP.
type Server struct {
	Keys   Authenticator
	Access Decider
	// Batch, when set, decides a batch's user evaluations in one call, and its service
	// accounts' in another when it is a ServiceAccountBatchDecider; without it they are
	// decided one by one with Access.
	Batch BatchDecider
	// Issuer is the PDP's base URL as clients reach it (https://orgscim.example);
	// empty: the scheme and host of each request.
	Issuer string
	Logger *slog.Logger
}

// Register mounts the PDP's endpoints on e.
func (s *Server) Register(e *echo.Echo) {
	e.GET(ConfigurationPath, s.configuration)
	e.POST(EvaluationPath, s.authenticate(s.evaluation))
	e.POST(EvaluationsPath, s.authenticate(s.evaluations))
}

// Owns tells whether path is the PDP's, so that its errors are answered by HandleError.
func Owns(path string) bool {
	return path == ConfigurationPath || strings.HasPrefix(path, "/access/v1/")
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Configuration is the PDP metadata document.
type Configuration struct {
	PolicyDecisionPoint       string `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string `json:"access_evaluations_endpoint"`
}

func (s *Server) configuration(c echo.Context) error {
	base := strings.TrimSuffix(s.Issuer, "/")
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	return c.JSON(http.StatusOK, Configuration{PolicyDecisionPoint: base,
		AccessEvaluationEndpoint: base + EvaluationPath, AccessEvaluationsEndpoint: base + EvaluationsPath})
}

const principalKey = "authzen.principal"

func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, p, err := keyauth.Principal(c.Request(), s.Keys)
		c.SetRequest(c.Request().WithContext(ctx))
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		// The specification has the PDP echo the caller's request id.
		if id := c.Request().Header.Get("X-Request-ID"); id != "" {
			c.Response().Header().Set("X-Request-ID", id)
		}
		return next(c)
	}
}

// Entity is a subject or a resource.
type Entity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Action names a permission.
type Action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Evaluation is one question; in a batch, absent parts take the request's defaults.
type Evaluation struct {
	Subject  *Entity        `json:"subject,omitempty"`
	Action   *Action        `json:"action,omitempty"`
	Resource *Entity        `json:"resource,omitempty"`
	Context  map[string]any `json:"context,omitempty"`
}

// Evaluations is a batch request.
type Evaluations struct {
	Evaluation
	Evaluations []Evaluation `json:"evaluations,omitempty"`
	Options     struct {
		Semantic string `json:"evaluations_semantic,omitempty"`
	} `json:"options"`
}

// Result is one decision.
type Result struct {
	Decision bool `json:"decision"`
	Context  any  `json:"context,omitempty"`
}

// Semantics of a batch.
const (
	ExecuteAll          = "execute_all"
	DenyOnFirstDeny     = "deny_on_first_deny"
	PermitOnFirstPermit = "permit_on_first_permit"
)

func decode(c echo.Context, v any) error {
	if ct := c.Request().Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return orgscim.Errorf(orgscim.Invalid, "the request body must be JSON (Content-Type: application/json)")
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return orgscim.Errorf(orgscim.Invalid, "malformed request body: %s", jsonProblem(err))
	}
	if dec.More() {
		return orgscim.Errorf(orgscim.Invalid, "malformed request body: trailing data")
	}
	return nil
}

// jsonProblem says what is wrong with a body without echoing Go types.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + te.Field + " has the wrong type"
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not valid JSON"
}

// Subject types the PDP decides for.
const (
	SubjectUser           = "user"            // a SCIM user; properties.connection names its connection
	SubjectServiceAccount = "service_account" // a service account, by id
)

// ServiceAccountDecider is the access check of a service account as principal p may ask
// it (Forbidden or NotFound outside p's scope); a Decider that has it answers subjects of
// type service_account.
type ServiceAccountDecider interface {
	DecideServiceAccount(ctx context.Context, p orgs.Principal, id, permission, org string) (allowed bool, why any, err error)
}

// ServiceAccountQuestion is one service account evaluation: the account's id, a
// permission and an org's slug.
type ServiceAccountQuestion struct {
	ID, Permission, Org string
}

// ServiceAccountBatchDecider is ServiceAccountDecider for many questions at once, each
// answered as DecideServiceAccount answers it alone (errs[i] as BatchDecider's); a Batch
// that has it decides a batch's service-account evaluations in one call.
type ServiceAccountBatchDecider interface {
	DecideServiceAccounts(ctx context.Context, p orgs.Principal, qs []ServiceAccountQuestion) (answers []Decided, errs []error, err error)
}

// question turns an evaluation into the access check's terms: conn is "" for a service
// account.
func question(e Evaluation) (kind, conn, subject, perm, org string, err error) {
	switch {
	case e.Subject == nil || e.Subject.ID == "":
		return "", "", "", "", "", orgscim.Errorf(orgscim.Invalid, "subject.id is required")
	case e.Subject.Type != SubjectUser && e.Subject.Type != SubjectServiceAccount:
		return "", "", "", "", "", orgscim.Errorf(orgscim.Invalid, `subject.type must be "user" or "service_account"`)
	case e.Resource == nil || e.Resource.ID == "":
		return "", "", "", "", "", orgscim.Errorf(orgscim.Invalid, "resource.id is required (an org's slug)")
	case e.Resource.Type != "org":
		return "", "", "", "", "", orgscim.Errorf(orgscim.Invalid, `resource.type must be "org"`)
	case e.Action == nil || e.Action.Name == "":
		return "", "", "", "", "", orgscim.Errorf(orgscim.Invalid, "action.name is required (a permission)")
	}
	if e.Subject.Type == SubjectServiceAccount {
		return SubjectServiceAccount, "", e.Subject.ID, e.Action.Name, e.Resource.ID, nil
	}
	conn, _ = e.Subject.Properties["connection"].(string)
	if conn == "" {
		return "", "", "", "", "", orgscim.Errorf(orgscim.Invalid, "subject.properties.connection is required (the user's connection slug)")
	}
	return SubjectUser, conn, e.Subject.ID, e.Action.Name, e.Resource.ID, nil
}

func (s *Server) decide(c echo.Context, e Evaluation) (Result, error) {
	kind, conn, subject, perm, org, err := question(e)
	if err != nil {
		return Result{}, err
	}
	p, _ := c.Get(principalKey).(orgs.Principal)
	var allowed bool
	var why any
	if kind == SubjectServiceAccount {
		sa, ok := s.Access.(ServiceAccountDecider)
		if !ok {
			return Result{}, orgscim.Errorf(orgscim.Invalid, "this PDP does not decide for service accounts")
		}
		allowed, why, err = sa.DecideServiceAccount(c.Request().Context(), p, subject, perm, org)
	} else {
		allowed, why, err = s.Access.Decide(c.Request().Context(), p, conn, subject, perm, org)
	}
	if err != nil {
		return Result{}, err
	}
	return Result{Decision: allowed, Context: why}, nil
}

// decideAll decides the well-formed evaluations qs: the users' together, in one call of
// the batched decider, and the service accounts' together in another when it decides
// them in batches (one at a time otherwise). errs[i] is evaluation i's own error; err
// fails the batch.
func (s *Server) decideAll(c echo.Context, qs []Evaluation) (rs []Result, errs []error, err error) {
	rs, errs = make([]Result, len(qs)), make([]error, len(qs))
	if s.Batch == nil {
		for i, e := range qs {
			rs[i], errs[i] = s.decide(c, e)
		}
		return rs, errs, nil
	}
	saBatch, _ := s.Batch.(ServiceAccountBatchDecider)
	var users []Question
	var accounts []ServiceAccountQuestion
	var userAt, accountAt []int
	for i, e := range qs {
		kind, conn, subject, perm, org, _ := question(e) // well-formed: checked by the caller
		switch {
		case kind == SubjectUser:
			users = append(users, Question{Connection: conn, User: subject, Permission: perm, Org: org})
			userAt = append(userAt, i)
		case saBatch != nil:
			accounts = append(accounts, ServiceAccountQuestion{ID: subject, Permission: perm, Org: org})
			accountAt = append(accountAt, i)
		default:
			rs[i], errs[i] = s.decide(c, e)
		}
	}
	p, _ := c.Get(principalKey).(orgs.Principal)
	ctx := c.Request().Context()
	for _, part := range []struct {
		n      int
		at     []int
		decide func() ([]Decided, []error, error)
	}{
		{len(users), userAt, func() ([]Decided, []error, error) { return s.Batch.DecideMany(ctx, p, users) }},
		{len(accounts), accountAt, func() ([]Decided, []error, error) { return saBatch.DecideServiceAccounts(ctx, p, accounts) }},
	} {
		if part.n == 0 {
			continue
		}
		answers, aerrs, err := part.decide()
		if err != nil {
			return nil, nil, err
		}
		for k, i := range part.at {
			rs[i], errs[i] = Result{Decision: answers[k].Allowed, Context: answers[k].Why}, aerrs[k]
		}
	}
	return rs, errs, nil
}

func (s *Server) evaluation(c echo.Context) error {
	var e Evaluation
	if err := decode(c, &e); err != nil {
		return err
	}
	return s.one(c, e)
}

func (s *Server) one(c echo.Context, e Evaluation) error {
	r, err := s.decide(c, e)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// merge fills e's absent parts from the batch's defaults.
func merge(def, e Evaluation) Evaluation {
	if e.Subject == nil {
		e.Subject = def.Subject
	}
	if e.Action == nil {
		e.Action = def.Action
	}
	if e.Resource == nil {
		e.Resource = def.Resource
	}
	if e.Context == nil {
		e.Context = def.Context
	}
	return e
}

func (s *Server) evaluations(c echo.Context) error {
	var b Evaluations
	if err := decode(c, &b); err != nil {
		return err
	}
	if len(b.Evaluations) == 0 {
		return s.one(c, b.Evaluation) // no batch: one evaluation, answered as one
	}
	if len(b.Evaluations) > MaxEvaluations {
		return orgscim.Errorf(orgscim.Invalid, "at most %d evaluations in one request", MaxEvaluations)
	}
	sem := b.Options.Semantic
	switch sem {
	case "":
		sem = ExecuteAll
	case ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
	default:
		return orgscim.Errorf(orgscim.Invalid, "options.evaluations_semantic must be %s, %s or %s", ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit)
	}
	// Malformed items make the whole request a 400: the caller's mistake, not a decision.
	qs := make([]Evaluation, len(b.Evaluations))
	for i, e := range b.Evaluations {
		qs[i] = merge(b.Evaluation, e)
		if _, _, _, _, _, err := question(qs[i]); err != nil {
			return orgscim.Errorf(orgscim.Invalid, "evaluations[%d]: %s", i, orgscim.ErrorMessage(err))
		}
	}
	rs, errs, err := s.decideAll(c, qs)
	if err != nil {
		return err
	}
	// Deciding changes nothing, so a batch is decided whole and then cut where its
	// semantics stop: the evaluations after that point go unanswered.
	out := make([]Result, 0, len(qs))
	for i := range qs {
		r, err := rs[i], errs[i]
		if err != nil {
			code := orgscim.ErrorCode(err)
			if code != orgscim.Forbidden && code != orgscim.NotFound {
				return err
			}
			// A question this caller may not ask, or about something that does not
			// exist: refused in its own place, without hiding the others' answers.
			r = Result{Context: map[string]any{"error": map[string]any{"status": httpstatus.Of(code), "message": orgscim.ErrorMessage(err)}}}
		}
		out = append(out, r)
		if (sem == DenyOnFirstDeny && !r.Decision) || (sem == PermitOnFirstPermit && r.Decision) {
			break
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"evaluations": out})
}
