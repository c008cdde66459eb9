package adminapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// Owner names a service account's accountable person: a SCIM user of a connection
// whose org contains the account's org.
type Owner struct {
	Connection string `json:"connection" doc:"connection slug"`
	UserID     string `json:"user_id" doc:"the SCIM id of an active user of that connection"`
}

// CreateServiceAccountRequest creates a service account.
type CreateServiceAccountRequest struct {
	Org         string     `json:"org" doc:"org slug: the account acts for this org and its subtree"`
	Name        string     `json:"name" doc:"lower-case letters, digits and _.:-; unique among the org's live accounts"`
	Description string     `json:"description,omitempty"`
	Owner       Owner      `json:"owner"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty" doc:"omitted: the deployment's maximum lifetime from now; never later than it"`
}

// ServiceAccount is a non-human identity of an org and its state now.
type ServiceAccount struct {
	ID             string     `json:"id"`
	Org            string     `json:"org" doc:"org slug"`
	Name           string     `json:"name"`
	Description    string     `json:"description"`
	Owner          Owner      `json:"owner"`
	State          string     `json:"state" enum:"active,orphaned,suspended,expired,retired" doc:"by the authority rule, now: orphaned when the owner is gone; suspended when the org's relationship is not active"`
	StateReason    string     `json:"state_reason" doc:"why it is not active"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      time.Time  `json:"expires_at"`
	OrphanedAt     *time.Time `json:"orphaned_at" doc:"when the reconciler found its owner gone"`
	OrphanDeadline *time.Time `json:"orphan_deadline" doc:"reassign or retire it by then, or the reconciler retires it"`
	RetiredAt      *time.Time `json:"retired_at"`
	RetiredBy      string     `json:"retired_by"`
	RetireReason   string     `json:"retire_reason"`
}

// ServiceAccountList is the accounts of an org's subtree.
type ServiceAccountList struct {
	ServiceAccounts []ServiceAccount `json:"service_accounts"`
}

// ReassignRequest names a new owner.
type ReassignRequest struct {
	Owner  Owner  `json:"owner"`
	Reason string `json:"reason,omitempty"`
}

// RetireRequest says why an account is retired.
type RetireRequest struct {
	Reason string `json:"reason" doc:"required"`
}

// IntegrationToken is an integration token, never its secret.
type IntegrationToken struct {
	ID        string     `json:"id"`
	Hint      string     `json:"hint" doc:"the first characters of the secret"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// IssuedIntegrationToken is a new token with its secret, shown once.
type IssuedIntegrationToken struct {
	IntegrationToken
	Token string `json:"token" doc:"the secret (osint_...), shown only now; stored only as a hash"`
}

// IntegrationTokenList is an account's tokens.
type IntegrationTokenList struct {
	Tokens []IntegrationToken `json:"tokens"`
}

// TokenExpiryRequest asks for a token's expiry.
type TokenExpiryRequest struct {
	ExpiresAt *time.Time `json:"expires_at,omitempty" doc:"omitted: 30 days; never after the account's own expiry"`
}

// ServiceAccountGrantRequest gives an account a non-privileged role.
type ServiceAccountGrantRequest struct {
	Role      string     `json:"role" doc:"key of a role that is not privileged"`
	Org       string     `json:"org" doc:"org slug inside the account's subtree"`
	Reason    string     `json:"reason,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// ServiceAccountElevationRequest asks for a privileged role for an account.
type ServiceAccountElevationRequest struct {
	Role            string `json:"role" doc:"key of a privileged role"`
	Org             string `json:"org" doc:"org slug inside the account's subtree"`
	Reason          string `json:"reason" doc:"required"`
	DurationSeconds int64  `json:"duration_seconds" doc:"at most the role's maximum"`
}

// GrantList is a holder's live grants.
type GrantList struct {
	Grants []Grant `json:"grants"`
}

// ServiceAccountDecision answers whether a service account may do something now.
type ServiceAccountDecision struct {
	Allowed        bool      `json:"allowed"`
	Reason         string    `json:"reason"`
	ServiceAccount string    `json:"service_account" doc:"its id"`
	Because        []Holding `json:"because" doc:"the grants that allow"`
}

// IntegrationCheckRequest is an integration's question about itself.
type IntegrationCheckRequest struct {
	Permission string `json:"permission" doc:"e.g. reports.read"`
	Org        string `json:"org" doc:"org slug"`
}

// integrationCheckPath is where an integration asks about itself with its own token.
const integrationCheckPath = "/integration/access/check"

// integrationTokenMessage is the one answer to an integration token that does not work.
const integrationTokenMessage = "a usable integration token is required (Authorization: Bearer osint_...)"

func (s *Server) serviceAccounts() (*orgs.ServiceAccounts, error) {
	if s.ServiceAccounts == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "service accounts are not configured")
	}
	return s.ServiceAccounts, nil
}

// ServiceAccountJSON renders an account with its state now, as the API answers it (the
// CLI prints the same).
func (s *Server) ServiceAccountJSON(ctx context.Context, sa *orgs.ServiceAccount) (ServiceAccount, error) {
	return s.serviceAccountJSON(ctx, s.resolver(ctx), sa)
}

func (s *Server) serviceAccountJSON(ctx context.Context, r *resolver, sa *orgs.ServiceAccount) (ServiceAccount, error) {
	org, err := r.orgSlug(sa.OrgID)
	if err != nil {
		return ServiceAccount{}, err
	}
	conn, err := r.connSlug(sa.OwnerConnectionID)
	if err != nil {
		return ServiceAccount{}, err
	}
	state, why, err := s.ServiceAccounts.State(ctx, sa)
	if err != nil {
		return ServiceAccount{}, err
	}
	return ServiceAccount{ID: sa.ID, Org: org, Name: sa.Name, Description: sa.Description,
		Owner: Owner{Connection: conn, UserID: sa.OwnerUserID}, State: state, StateReason: why, CreatedBy: sa.CreatedBy,
		CreatedAt: sa.Created, ExpiresAt: sa.Expires, OrphanedAt: sa.OrphanedAt, OrphanDeadline: sa.OrphanDeadline,
		RetiredAt: sa.Retired, RetiredBy: sa.RetiredBy, RetireReason: sa.RetireReason}, nil
}

func (s *Server) serviceAccountReply(c echo.Context, code int, sa *orgs.ServiceAccount) error {
	out, err := s.ServiceAccountJSON(c.Request().Context(), sa)
	if err != nil {
		return err
	}
	return c.JSON(code, out)
}

// owner resolves an owner's connection slug to its id.
func (s *Server) owner(c echo.Context, o Owner) (string, error) {
	if err := required("owner.connection", o.Connection, "owner.user_id", o.UserID); err != nil {
		return "", err
	}
	conn, err := s.Directory.Connection(c.Request().Context(), o.Connection)
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return "", orgscim.Errorf(orgscim.Invalid, "no connection %q for the owner", o.Connection)
	}
	if err != nil {
		return "", err
	}
	return conn.ID, nil
}

func (s *Server) createServiceAccount(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var req CreateServiceAccountRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("org", req.Org, "name", req.Name); err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	connID, err := s.owner(c, req.Owner)
	if err != nil {
		return err
	}
	sa, err := sas.Create(ctx, principal(c), orgs.ServiceAccountRequest{OrgID: org.ID, Name: req.Name, Description: req.Description,
		OwnerConnectionID: connID, OwnerUserID: req.Owner.UserID, Expires: req.ExpiresAt})
	if err != nil {
		return err
	}
	return s.serviceAccountReply(c, http.StatusCreated, sa)
}

func (s *Server) listServiceAccounts(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	q := c.QueryParams()
	if err := required("org", q.Get("org")); err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, q.Get("org"))
	if err != nil {
		return err
	}
	state := q.Get("state")
	switch state {
	case "", orgs.ServiceAccountActive, orgs.ServiceAccountOrphaned, "suspended", orgs.ServiceAccountExpired, orgs.ServiceAccountRetired:
	default:
		return orgscim.Errorf(orgscim.Invalid, "state must be active, orphaned, suspended, expired or retired")
	}
	list, err := sas.List(ctx, principal(c), org.ID, state == orgs.ServiceAccountRetired)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	out := ServiceAccountList{ServiceAccounts: []ServiceAccount{}}
	for _, sa := range list {
		j, err := s.serviceAccountJSON(ctx, r, sa)
		if err != nil {
			return err
		}
		if state == "" || j.State == state {
			out.ServiceAccounts = append(out.ServiceAccounts, j)
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getServiceAccount(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	sa, err := sas.Get(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return s.serviceAccountReply(c, http.StatusOK, sa)
}

func (s *Server) reassignServiceAccount(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	var req ReassignRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	connID, err := s.owner(c, req.Owner)
	if err != nil {
		return err
	}
	sa, err := sas.Reassign(c.Request().Context(), principal(c), c.Param("id"), connID, req.Owner.UserID, req.Reason)
	if err != nil {
		return err
	}
	return s.serviceAccountReply(c, http.StatusOK, sa)
}

func (s *Server) retireServiceAccount(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	var req RetireRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	sa, err := sas.Retire(c.Request().Context(), principal(c), c.Param("id"), req.Reason)
	if err != nil {
		return err
	}
	return s.serviceAccountReply(c, http.StatusOK, sa)
}

func integrationTokenJSON(t *orgs.IntegrationToken) IntegrationToken {
	return IntegrationToken{ID: t.ID, Hint: t.Hint, CreatedBy: t.CreatedBy, CreatedAt: t.Created, ExpiresAt: t.Expires, RevokedAt: t.Revoked}
}

func (s *Server) issueIntegrationToken(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	var req TokenExpiryRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	t, secret, err := sas.IssueToken(c.Request().Context(), principal(c), c.Param("id"), req.ExpiresAt)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, IssuedIntegrationToken{IntegrationToken: integrationTokenJSON(t), Token: secret})
}

func (s *Server) listIntegrationTokens(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	ts, err := sas.Tokens(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	out := IntegrationTokenList{Tokens: make([]IntegrationToken, len(ts))}
	for i, t := range ts {
		out.Tokens[i] = integrationTokenJSON(t)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) revokeIntegrationToken(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	if err := sas.RevokeToken(c.Request().Context(), principal(c), c.Param("id"), c.Param("token")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) grantServiceAccount(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var req ServiceAccountGrantRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("role", req.Role, "org", req.Org); err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	g, err := sas.Grant(ctx, principal(c), c.Param("id"), req.Role, org.ID, req.Reason, req.ExpiresAt)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).grantJSON(g)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) serviceAccountGrants(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	gs, roles, err := sas.Grants(ctx, principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	out := GrantList{Grants: make([]Grant, 0, len(gs))}
	for _, g := range gs {
		if roles[g.RoleID] != nil {
			r.roles[g.RoleID] = roles[g.RoleID]
		}
		j, err := r.grantJSON(g)
		if err != nil {
			return err
		}
		out.Grants = append(out.Grants, j)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) elevateServiceAccount(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var req ServiceAccountElevationRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("role", req.Role, "org", req.Org); err != nil {
		return err
	}
	if req.DurationSeconds <= 0 {
		return orgscim.Errorf(orgscim.Invalid, "duration_seconds must be positive")
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	e, err := sas.RequestElevation(ctx, principal(c), c.Param("id"), req.Role, org.ID, req.Reason,
		time.Duration(req.DurationSeconds)*time.Second)
	if err != nil {
		return err
	}
	return s.elevationReply(c, http.StatusCreated, e)
}

// ServiceAccountCheck is the access check of a service account, explained; the caller
// (an administrator, the CLI or the integration itself) has been authorised.
func (s *Server) ServiceAccountCheck(ctx context.Context, id, permission, orgSlug string) (ServiceAccountDecision, error) {
	org, err := s.Directory.Store.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return ServiceAccountDecision{}, err
	}
	d, err := s.ServiceAccounts.Check(ctx, id, permission, org.ID)
	if err != nil {
		return ServiceAccountDecision{}, err
	}
	return s.ExplainServiceAccount(ctx, id, d)
}

// CheckServiceAccount is a service account's access check as p may ask it: p must see
// the account (else NotFound, never an answer), as GET /service-accounts/{id}/access/check
// does. It is CheckServiceAccounts of one question.
func (s *Server) CheckServiceAccount(ctx context.Context, p orgs.Principal, id, permission, orgSlug string) (ServiceAccountDecision, error) {
	ds, errs, err := s.CheckServiceAccounts(ctx, p, []ServiceAccountQuestion{{ID: id, Permission: permission, Org: orgSlug}})
	if err != nil {
		return ServiceAccountDecision{}, err
	}
	return ds[0], errs[0]
}

// ServiceAccountQuestion is one service account's access question as the admin API
// takes it: may the account (an id) exercise the permission on the org (a slug).
type ServiceAccountQuestion struct {
	ID, Permission, Org string
}

// CheckServiceAccounts is CheckServiceAccount of many questions, each answered as it is
// alone (errs[i] NotFound: an account p does not see, or no such org): whether p sees an
// account is judged once per account, the orgs are resolved together, and the questions
// decided together by orgs.ServiceAccounts.CheckMany. err fails the whole batch. Other
// adapters that answer the same question (the AuthZEN PDP) call this.
func (s *Server) CheckServiceAccounts(ctx context.Context, p orgs.Principal, qs []ServiceAccountQuestion) (ds []ServiceAccountDecision, errs []error, err error) {
	ds, errs = make([]ServiceAccountDecision, len(qs)), make([]error, len(qs))
	sas, err := s.serviceAccounts()
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]error{}
	slugs := make([]string, len(qs))
	for i, q := range qs {
		slugs[i] = q.Org
		e, ok := seen[q.ID]
		if !ok {
			_, e = sas.Get(ctx, p, q.ID)
			if e != nil && !refusal(e) {
				return nil, nil, e
			}
			seen[q.ID] = e
		}
		errs[i] = e
	}
	lookup, _ := s.Access.Store.(CheckLookup)
	orgsBySlug, err := s.orgsBySlug(ctx, lookup, slugs)
	if err != nil {
		return nil, nil, err
	}
	var asked []orgs.ServiceAccountQuestion
	var at []int
	for i, q := range qs {
		if errs[i] != nil {
			continue
		}
		org := orgsBySlug[q.Org]
		if org == nil {
			errs[i] = orgscim.Errorf(orgscim.NotFound, "no org %q", q.Org)
			continue
		}
		asked = append(asked, orgs.ServiceAccountQuestion{ID: q.ID, Permission: q.Permission, OrgID: org.ID})
		at = append(at, i)
	}
	decided, derrs, err := sas.CheckMany(ctx, asked)
	if err != nil {
		return nil, nil, err
	}
	for k, i := range at {
		if errs[i] = derrs[k]; errs[i] != nil {
			continue
		}
		if ds[i], err = s.ExplainServiceAccount(ctx, asked[k].ID, decided[k]); err != nil {
			return nil, nil, err
		}
	}
	return ds, errs, nil
}

// refusal tells an answer to one question (the caller may not ask it, or what it names
// does not exist) from a failure.
func refusal(err error) bool {
	c := orgscim.ErrorCode(err)
	return c == orgscim.NotFound || c == orgscim.Forbidden
}

// ExplainServiceAccount renders a service account's decision with the grants behind it.
func (s *Server) ExplainServiceAccount(ctx context.Context, id string, d *orgs.Decision) (ServiceAccountDecision, error) {
	r := s.resolver(ctx)
	out := ServiceAccountDecision{Allowed: d.Allowed, Reason: d.Reason, ServiceAccount: id, Because: []Holding{}}
	var hs []orgs.Holding
	for _, ex := range d.Because {
		hs = append(hs, orgs.Holding{Grant: ex.Grant, Role: ex.Role, Org: ex.Org})
	}
	held, err := r.holdingsJSON(hs)
	if err != nil {
		return ServiceAccountDecision{}, err
	}
	out.Because = held
	return out, nil
}

func (s *Server) checkServiceAccount(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	q := c.QueryParams()
	if err := required("permission", q.Get("permission"), "org", q.Get("org")); err != nil {
		return err
	}
	if _, err := sas.Get(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	out, err := s.ServiceAccountCheck(c.Request().Context(), c.Param("id"), q.Get("permission"), q.Get("org"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// integrationCheck answers an integration that presents its own token: what may it do
// now? The token must be usable, and the account's authority is judged at this moment.
func (s *Server) integrationCheck(c echo.Context) error {
	sas, err := s.serviceAccounts()
	if err != nil {
		return err
	}
	scheme, secret, _ := strings.Cut(c.Request().Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		secret = ""
	}
	sa, err := sas.AuthenticateToken(c.Request().Context(), strings.TrimSpace(secret))
	if err != nil {
		return err
	}
	var req IntegrationCheckRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("permission", req.Permission, "org", req.Org); err != nil {
		return err
	}
	out, err := s.ServiceAccountCheck(c.Request().Context(), sa.ID, req.Permission, req.Org)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) serviceAccountRoutes() []route {
	const who = "Operators; a delegate with manage_members on the account's org."
	return []route{
		{method: http.MethodPost, path: "/service-accounts", tag: "service-accounts", body: CreateServiceAccountRequest{},
			status: http.StatusCreated, resp: ServiceAccount{},
			summary: "Create a service account of an org, answerable to an owner (an active user of a connection whose org contains it), " +
				"expiring within the deployment's maximum lifetime. Audited (service_account.create).",
			who: who, handle: s.createServiceAccount},
		{method: http.MethodGet, path: "/service-accounts", tag: "service-accounts", status: http.StatusOK, resp: ServiceAccountList{},
			query: []param{{name: "org", doc: "org slug: the accounts of its subtree", required: true},
				{name: "state", doc: "only accounts in this state now: active, orphaned, suspended, expired or retired"}},
			summary: "List the service accounts of an org's subtree with their state now; orphaned ones carry their deadline.",
			who:     who, handle: s.listServiceAccounts},
		{method: http.MethodGet, path: "/service-accounts/{id}", tag: "service-accounts", status: http.StatusOK, resp: ServiceAccount{},
			summary: "Read a service account and its state now.", who: who, handle: s.getServiceAccount},
		{method: http.MethodPost, path: "/service-accounts/{id}/owner", tag: "service-accounts", body: ReassignRequest{},
			status: http.StatusOK, resp: ServiceAccount{},
			summary: "Give the account a new owner; an orphan is no longer one. Audited (service_account.reassign).",
			who:     who, handle: s.reassignServiceAccount},
		{method: http.MethodPost, path: "/service-accounts/{id}/retire", tag: "service-accounts", body: RetireRequest{},
			status: http.StatusOK, resp: ServiceAccount{},
			summary: "Retire the account for good: its grants and tokens are revoked with it. Audited (service_account.retire).",
			who:     who, handle: s.retireServiceAccount},
		{method: http.MethodPost, path: "/service-accounts/{id}/tokens", tag: "service-accounts", body: TokenExpiryRequest{},
			bodyOptional: true, status: http.StatusCreated, resp: IssuedIntegrationToken{},
			summary: "Issue an integration token; the secret is shown once and stored as a hash. It expires (30 days by default), never after the account.",
			who:     who, handle: s.issueIntegrationToken},
		{method: http.MethodGet, path: "/service-accounts/{id}/tokens", tag: "service-accounts", status: http.StatusOK,
			resp: IntegrationTokenList{}, summary: "List the account's integration tokens (never their secrets).", who: who,
			handle: s.listIntegrationTokens},
		{method: http.MethodDelete, path: "/service-accounts/{id}/tokens/{token}", tag: "service-accounts", status: http.StatusNoContent,
			summary: "Revoke an integration token at once.", who: who, handle: s.revokeIntegrationToken},
		{method: http.MethodPost, path: "/service-accounts/{id}/grants", tag: "service-accounts", body: ServiceAccountGrantRequest{},
			status: http.StatusCreated, resp: Grant{},
			summary: "Give the account a non-privileged role on an org of its subtree (privileged roles: POST /service-accounts/{id}/elevations).",
			who:     "Operators; a delegate with manage_members on the org that itself holds the role there.", handle: s.grantServiceAccount},
		{method: http.MethodGet, path: "/service-accounts/{id}/grants", tag: "service-accounts", status: http.StatusOK, resp: GrantList{},
			summary: "The account's unrevoked grants.", who: who, handle: s.serviceAccountGrants},
		{method: http.MethodPost, path: "/service-accounts/{id}/elevations", tag: "service-accounts", body: ServiceAccountElevationRequest{},
			status: http.StatusCreated, resp: Elevation{},
			summary: "Request a privileged role for the account; a second person approves it with POST /elevations/{id}/approve.",
			who:     who, handle: s.elevateServiceAccount},
		{method: http.MethodGet, path: "/service-accounts/{id}/access/check", tag: "service-accounts", status: http.StatusOK,
			resp: ServiceAccountDecision{}, query: []param{{name: "permission", doc: "e.g. reports.read", required: true},
				{name: "org", doc: "org slug", required: true}},
			summary: "May the account exercise the permission on the org now? Decided by the authority rule at this moment: " +
				"no when its owner is gone, the org's relationship or contract has ended, or it expired.",
			who: who, handle: s.checkServiceAccount},
		{method: http.MethodPost, path: integrationCheckPath, tag: "service-accounts", body: IntegrationCheckRequest{},
			status: http.StatusOK, resp: ServiceAccountDecision{}, integration: true,
			summary: "An integration asks, with its own token (Authorization: Bearer osint_...), whether it may exercise a permission on an org now.",
			who:     "The integration itself, with a usable integration token.", handle: s.integrationCheck},
	}
}
