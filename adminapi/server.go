// Package adminapi is the admin API adapter: JSON over HTTP under /api/v1 for the
// vendor's operators and the partners' delegated administrators. It turns requests into
// calls of the orgs domain and domain errors into JSON error documents, in one place
// (status in errors.go).
//
// Every request but GET /api/v1/openapi.json carries an admin API key
// (Authorization: Bearer oscadm_...). An operator key acts with the vendor's full
// authority; a delegate key acts through one delegation: only inside its subtree and
// only with its capabilities, checked by the domain (orgs.Delegations.Authorize and the
// Principal-taking domain methods). Orgs are addressed by slug, connections by slug,
// users and groups by their SCIM ids, everything else by id.
//
// The endpoints, their bodies and who may call them are described by the OpenAPI
// document served at /api/v1/openapi.json, generated from the route table (routes.go)
// and the wire types (types.go).
//
// Every change made through the API is recorded in the audit trail by the domain, in the
// change's transaction, with the audit.Source that authenticate puts in the request's
// context: the actor "admin_key:KEY_ID PRINCIPAL" (PRINCIPAL as orgs.Principal.Name
// gives it: "operator:NAME" or "user:CONNECTION_ID/USER_ID"; fixed for a key's life, so
// the actor filter finds everything one key did), the request id of the X-Request-Id
// response header and the peer's address. GET /api/v1/audit reads the trail: operators
// all of it, a delegate the events on orgs of its subtree (audit.go).
package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/imports"
	"github.com/orgscim/orgscim/internal/jsonvalue"
	"github.com/orgscim/orgscim/internal/keyauth"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/reviews"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/support"
)

// Prefix is where the admin API lives.
const Prefix = "/api/v1"

// GroupLookup finds a SCIM group of a connection.
type GroupLookup interface {
	Get(ctx context.Context, conn, id string) (*provisioning.Group, error)
}

// Server serves the admin API.
type Server struct {
	Directory   *orgs.Directory
	Access      *orgs.Access // its Authz should be Delegations
	Delegations *orgs.Delegations
	Keys        *orgs.AdminKeys
	// Groups, when set, names the groups of an explanation and refuses mappings of
	// groups that do not exist.
	Groups GroupLookup
	// Audit is the trail GET /audit reads; nil reads the log the Directory records
	// into, when that log can be read.
	Audit AuditReader
	// Lists, when set, serves the listings (GET /orgs, /connections, /roles, /mappings,
	// /grants, /delegations).
	Lists Lists
	// Reconciler, when set, serves /reconcile: recorded passes and approvals.
	Reconciler Reconciler
	// Reviews, when set, serves the access reviews (/reviews).
	Reviews *reviews.Service
	Logger  *slog.Logger

	// Imports and Exports serve spreadsheet imports and the access export.
	Imports *imports.Importer
	Exports *orgs.Exporter
	// Onboarding, when set, serves partner onboarding and setup links.
	Onboarding *onboarding.Onboarding
	// Domains, when set, serves the orgs' domain claims (/orgs/{slug}/domains).
	Domains *domains.Service
	// Quarantine, when set, serves the review of quarantined users.
	Quarantine *domains.Quarantine
	// Health, when set, serves GET /connections/{slug}/health and /requests;
	// TokenExpiryWarning is how long before a token lapses health warns (0: orgs.DefaultTokenExpiryWarning).
	Health             HealthReader
	TokenExpiryWarning time.Duration
	// SignIns, when set, serves the connections' console sign-in (/connections/{slug}/console-sign-in).
	SignIns *sessions.Service

	// Support, when set, applies the support policy to operator keys (see authenticate)
	// and serves /support-sessions.
	Support *support.Service

	// ServiceAccounts, when set, serves /service-accounts and /integration/access/check.
	ServiceAccounts *orgs.ServiceAccounts

	// MSPs, when set, serves /msp-engagements.
	MSPs *msp.Service

	// Webhooks, when set, serves /webhooks.
	Webhooks WebhookSubscriptions
	// Extra adds other adapters' endpoints to the OpenAPI document.
	Extra ExtraOpenAPI

	docOnce sync.Once
	doc     []byte
	docErr  error
}

func (s *Server) now() time.Time {
	if s.Delegations != nil && s.Delegations.Now != nil {
		return s.Delegations.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Register mounts the admin API on e. Errors of its paths are answered by HandleError,
// which the caller installs for paths under Prefix.
func (s *Server) Register(e *echo.Echo) {
	g := e.Group(Prefix)
	for _, r := range s.routes() {
		h := refuseUnstorableText(r.handle)
		if !r.public && !r.integration {
			h = s.authenticate(h)
		}
		g.Add(r.method, echoPath(r.path), h)
	}
}

// echoPath turns /orgs/{slug} into /orgs/:slug.
func echoPath(p string) string {
	return strings.NewReplacer("{", ":", "}", "").Replace(p)
}

const principalKey = "adminapi.principal"

// authenticate resolves the caller's key into a principal; every failure gets the same
// 401. An operator key is then put under the support policy (support.Service.Admit):
// confined when the policy requires a session, and acting in the session its
// Orgscim-Support-Session header names; a read-only session changes nothing here.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, p, err := keyauth.Principal(c.Request(), s.Keys)
		c.SetRequest(c.Request().WithContext(ctx))
		if err != nil {
			return err
		}
		if s.Support != nil {
			if p, err = s.Support.Admit(ctx, p, strings.TrimSpace(c.Request().Header.Get(orgs.SupportSessionHeader))); err != nil {
				return err
			}
			if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
				if err := p.Support.RefuseWrite(); err != nil {
					return err
				}
			}
		}
		c.Set(principalKey, p)
		// The domain copies the source into the audit event of every change this request
		// makes; the request id is the one the response carries, so the caller's logs and
		// the audit trail name the same request.
		r := c.Request()
		c.SetRequest(r.WithContext(audit.WithSource(r.Context(), audit.Source{
			Actor: Actor(p), RequestID: requestID(c), ClientAddr: c.RealIP(),
		})))
		return next(c)
	}
}

// Actor is how the audit trail names a principal acting through its admin API key:
// "admin_key:KEY_ID operator:NAME" or "admin_key:KEY_ID user:CONNECTION_ID/USER_ID";
// an operator in a support session is that staff member acting in support of the
// session's org: "admin_key:KEY_ID operator:NAME support:SESSION_ID ticket:TICKET org:SLUG";
// an MSP technician is that person acting for the MSP on its customer:
// "admin_key:KEY_ID user:CONNECTION_ID/USER_ID msp:SLUG customer:SLUG engagement:ID".
func Actor(p orgs.Principal) string {
	a := "admin_key:" + p.KeyID + " " + p.Name()
	if sc := p.Support; sc != nil {
		a += " support:" + sc.SessionID + " ticket:" + strings.Join(strings.Fields(sc.Ticket), "_") + " org:" + sc.OrgSlug
	}
	if r := p.Reach; r != nil {
		a += " msp:" + r.MSPSlug + " customer:" + r.CustomerSlug + " engagement:" + r.EngagementID
	}
	return a
}

// PrincipalOf returns the authenticated caller of the request.
func PrincipalOf(c echo.Context) (orgs.Principal, bool) {
	p, ok := c.Get(principalKey).(orgs.Principal)
	return p, ok
}

func principal(c echo.Context) orgs.Principal {
	p, _ := PrincipalOf(c)
	return p
}

// decode reads the JSON body into v. An empty body leaves v as it is when optional.
func decode(c echo.Context, v any, optional bool) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return echo.ErrStatusRequestEntityTooLarge
		}
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return orgscim.Errorf(orgscim.InvalidSyntax, "this request needs a JSON body")
	}
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		return echo.ErrUnsupportedMediaType
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return orgscim.Errorf(orgscim.InvalidSyntax, "the body is not the JSON this request takes: %s", jsonProblem(err))
	}
	if dec.More() {
		return orgscim.Errorf(orgscim.InvalidSyntax, "the body has data after its JSON value")
	}
	var generic any
	if json.Unmarshal(body, &generic) == nil && jsonvalue.HasNUL(generic) {
		return errNUL
	}
	return nil
}

var errNUL = orgscim.Errorf(orgscim.InvalidValue, "strings cannot contain the NUL character")

// refuseUnstorableText answers 400 for a path segment or query value holding NUL or
// invalid UTF-8, which PostgreSQL refuses with an error and SQLite would store or
// compare as given: both engines answer alike, and the database is not asked.
func refuseUnstorableText(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, v := range c.ParamValues() {
			if err := storableText(v); err != nil {
				return err
			}
		}
		for _, vs := range c.QueryParams() {
			for _, v := range vs {
				if err := storableText(v); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

func storableText(v string) error {
	if strings.ContainsRune(v, 0) {
		return errNUL
	}
	if !utf8.ValidString(v) {
		return orgscim.Errorf(orgscim.InvalidValue, "a path segment or query value is not valid UTF-8")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing more of the body than a
// field name.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "malformed JSON"
	case errors.As(err, &typ):
		if typ.Field != "" {
			return "field " + typ.Field + " must be " + typ.Type.String()
		}
		return "wrong JSON type"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown " + strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	return "invalid JSON"
}

func required(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, pairs[i])
		}
	}
	if len(missing) > 0 {
		return orgscim.Errorf(orgscim.Invalid, "missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// operatorOnly refuses everyone but operators.
func operatorOnly(p orgs.Principal) error {
	if p.Operator == "" {
		return orgscim.Errorf(orgscim.Forbidden, "only the vendor's operators may do this")
	}
	return nil
}

// canSee lets p read what concerns org: an operator what OperatorReach lets it, a delegate what lies in
// its delegated subtree (with any of its capabilities).
func (s *Server) canSee(ctx context.Context, p orgs.Principal, org *orgs.Org) error {
	if p.Operator != "" {
		return orgs.OperatorReach(p, org, s.now())
	}
	if p.Delegation == nil || len(p.Delegation.Capabilities) == 0 {
		return orgscim.Errorf(orgscim.Forbidden, "no authority here")
	}
	return s.Delegations.Authorize(ctx, p, p.Delegation.Capabilities[0], org)
}

// relatedConnection lets a delegate ask about the people of a connection only when the
// connection's org and the delegated subtree are on one path of the tree: the
// connection provisions into the subtree, or the subtree into the connection's.
func (s *Server) relatedConnection(ctx context.Context, p orgs.Principal, conn *orgs.Connection) error {
	if p.Operator != "" {
		if !p.Confined {
			return nil
		}
		org, err := s.Directory.Store.OrgByID(ctx, conn.OrgID)
		if err != nil {
			return err
		}
		return orgs.OperatorReach(p, org, s.now())
	}
	if p.Delegation == nil {
		return orgscim.Errorf(orgscim.Forbidden, "no authority here")
	}
	m, err := s.Access.Store.OrgsByID(ctx, []string{p.Delegation.OrgID, conn.OrgID})
	if err != nil {
		return err
	}
	home, co := m[p.Delegation.OrgID], m[conn.OrgID]
	if home == nil || co == nil || !(home.Contains(co) || co.Contains(home)) {
		return orgscim.Errorf(orgscim.Forbidden, "connection %s is outside the delegated subtree", conn.Slug)
	}
	return nil
}

// home returns the root of p's delegated subtree, nil for an operator.
func (s *Server) home(ctx context.Context, p orgs.Principal) (*orgs.Org, error) {
	if p.Delegation == nil {
		return nil, nil
	}
	return s.Directory.Store.OrgByID(ctx, p.Delegation.OrgID)
}
