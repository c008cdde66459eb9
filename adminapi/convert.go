package adminapi

import (
	"context"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// resolver turns the ids the domain speaks in into the slugs and keys of the API, and
// remembers what it looked up for the rest of the request.
type resolver struct {
	s     *Server
	ctx   context.Context
	orgs  map[string]*orgs.Org
	conns map[string]*orgs.Connection
	roles map[string]*orgs.Role
	// verified caches, by org id, whether the org's subtree holds a verified domain.
	verified map[string]bool
}

func (s *Server) resolver(ctx context.Context) *resolver {
	return &resolver{s: s, ctx: ctx, orgs: map[string]*orgs.Org{}, conns: map[string]*orgs.Connection{}, roles: map[string]*orgs.Role{},
		verified: map[string]bool{}}
}

func (r *resolver) remember(os ...*orgs.Org) {
	for _, o := range os {
		if o != nil {
			r.orgs[o.ID] = o
		}
	}
}

// preloadOrgs reads the orgs with these ids that it does not know yet, in one query.
func (r *resolver) preloadOrgs(ids []string) error {
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, ok := r.orgs[id]; !ok && !seen[id] {
			seen[id] = true
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	m, err := r.s.Access.Store.OrgsByID(r.ctx, missing)
	if err != nil {
		return err
	}
	for _, o := range m {
		r.remember(o)
	}
	return nil
}

func (r *resolver) org(id string) (*orgs.Org, error) {
	if o, ok := r.orgs[id]; ok {
		return o, nil
	}
	m, err := r.s.Access.Store.OrgsByID(r.ctx, []string{id})
	if err != nil {
		return nil, err
	}
	o := m[id]
	if o == nil {
		return nil, orgscim.Errorf(orgscim.NotFound, "no org %q", id)
	}
	r.orgs[id] = o
	return o, nil
}

func (r *resolver) orgSlug(id string) (string, error) {
	o, err := r.org(id)
	if err != nil {
		return "", err
	}
	return o.Slug, nil
}

func (r *resolver) conn(id string) (*orgs.Connection, error) {
	if c, ok := r.conns[id]; ok {
		return c, nil
	}
	c, err := r.s.Access.Store.ConnectionByID(r.ctx, id)
	if err != nil {
		return nil, err
	}
	r.conns[id] = c
	return c, nil
}

// connSlug names a connection by slug; "" for none (a service account's grant, whose
// holder belongs to no connection).
func (r *resolver) connSlug(id string) (string, error) {
	if id == "" {
		return "", nil
	}
	c, err := r.conn(id)
	if err != nil {
		return "", err
	}
	return c.Slug, nil
}

func (r *resolver) role(id string) (*orgs.Role, error) {
	if x, ok := r.roles[id]; ok {
		return x, nil
	}
	x, err := r.s.Access.Store.RoleByID(r.ctx, id)
	if err != nil {
		return nil, err
	}
	r.roles[id] = x
	return x, nil
}

func (r *resolver) orgJSON(o *orgs.Org) (Org, error) {
	out := Org{ID: o.ID, Slug: o.Slug, Name: o.Name, Kind: string(o.Kind), Status: string(o.Status),
		ContractStart: o.ContractStart, ContractEnd: o.ContractEnd, GraceSeconds: int64(o.Grace / time.Second),
		Owner: o.Owner, Brand: brandJSON(o.Brand), Version: o.Version, CreatedAt: o.Created, UpdatedAt: o.Updated}
	if o.ParentID != "" {
		slug, err := r.orgSlug(o.ParentID)
		if err != nil {
			return Org{}, err
		}
		out.Parent = &slug
	}
	return out, nil
}

func orgRef(o *orgs.Org) OrgRef {
	if o == nil {
		return OrgRef{}
	}
	return OrgRef{ID: o.ID, Slug: o.Slug, Name: o.Name}
}

func brandJSON(b orgs.Brand) Brand {
	return Brand{DisplayName: b.DisplayName, LogoURL: b.LogoURL, PrimaryColor: b.PrimaryColor, AccentColor: b.AccentColor}
}

func (r *resolver) connectionJSON(c *orgs.Connection) (Connection, error) {
	o, err := r.org(c.OrgID)
	if err != nil {
		return Connection{}, err
	}
	out := Connection{ID: c.ID, Slug: c.Slug, Org: o.Slug, IdP: c.IdP, Status: c.Status,
		SCIMPath: "/scim/v2/" + c.Slug, CreatedAt: c.Created}
	if r.s.Domains != nil {
		held, ok := r.verified[o.ID]
		if !ok {
			if held, err = r.s.Domains.HoldsVerified(r.ctx, o.Path); err != nil {
				return Connection{}, err
			}
			r.verified[o.ID] = held
		}
		out.Domains = "unverified"
		if held {
			out.Domains = "verified"
		}
	}
	return out, nil
}

func connectionRef(c *orgs.Connection) ConnectionRef {
	return ConnectionRef{ID: c.ID, Slug: c.Slug, IdP: c.IdP, Status: c.Status}
}

func tokenJSON(connSlug string, t *orgs.Token) Token {
	return Token{ID: t.ID, Connection: connSlug, Hint: t.Hint, CreatedAt: t.Created, ExpiresAt: t.Expires,
		RevokedAt: t.Revoked, LastUsedAt: t.LastUsed}
}

func roleJSON(x *orgs.Role) Role {
	perms := append([]string{}, x.Permissions...)
	return Role{ID: x.ID, Key: x.Key, Description: x.Description, Permissions: perms, Privileged: x.Privileged,
		MaxDurationSeconds: int64(x.MaxDuration / time.Second), Inherits: x.Inherits, CreatedAt: x.Created}
}

func (r *resolver) mappingJSON(m *orgs.Mapping) (Mapping, error) {
	conn, err := r.connSlug(m.ConnectionID)
	if err != nil {
		return Mapping{}, err
	}
	role, err := r.role(m.RoleID)
	if err != nil {
		return Mapping{}, err
	}
	org, err := r.orgSlug(m.OrgID)
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{ID: m.ID, Connection: conn, GroupID: m.GroupID, Role: role.Key, Org: org, State: string(m.State),
		Replaces: m.Replaces, DraftedBy: m.DraftedBy, ApprovedBy: m.ApprovedBy, Reason: m.Reason, CreatedAt: m.Created,
		ActivatedAt: m.Activated, RetiredAt: m.Retired}, nil
}

func (r *resolver) grantJSON(g *orgs.Grant) (Grant, error) {
	conn, err := r.connSlug(g.ConnectionID)
	if err != nil {
		return Grant{}, err
	}
	role, err := r.role(g.RoleID)
	if err != nil {
		return Grant{}, err
	}
	org, err := r.orgSlug(g.OrgID)
	if err != nil {
		return Grant{}, err
	}
	return Grant{ID: g.ID, Connection: conn, UserID: g.UserID, Role: role.Key, Org: org, Source: string(g.Source),
		SourceID: g.SourceID, GrantedBy: g.GrantedBy, ApprovedBy: g.ApprovedBy, Reason: g.Reason, ValidFrom: g.ValidFrom,
		ExpiresAt: g.Expires, CreatedAt: g.Created, RevokedAt: g.Revoked, RevokedBy: g.RevokedBy,
		RevokeReason: g.RevokeReason}, nil
}

func (r *resolver) holdingsJSON(hs []orgs.Holding) ([]Holding, error) {
	out := make([]Holding, 0, len(hs))
	for _, h := range hs {
		r.roles[h.Role.ID] = h.Role
		r.remember(h.Org)
		g, err := r.grantJSON(h.Grant)
		if err != nil {
			return nil, err
		}
		out = append(out, Holding{Grant: g, Role: roleJSON(h.Role), Org: orgRef(h.Org)})
	}
	return out, nil
}

func (r *resolver) delegationJSON(d *orgs.Delegation) (Delegation, error) {
	org, err := r.orgSlug(d.OrgID)
	if err != nil {
		return Delegation{}, err
	}
	conn, err := r.connSlug(d.HolderConnectionID)
	if err != nil {
		return Delegation{}, err
	}
	caps := make([]string, 0, len(d.Capabilities))
	for _, c := range d.Capabilities {
		caps = append(caps, string(c))
	}
	return Delegation{ID: d.ID, Org: org, Holder: Holder{Connection: conn, UserID: d.HolderUserID}, Capabilities: caps,
		Depth: d.Depth, ParentID: d.ParentID, GrantedBy: d.GrantedBy, CreatedAt: d.Created, ExpiresAt: d.Expires,
		RevokedAt: d.Revoked, RevokedBy: d.RevokedBy, RevokeReason: d.RevokeReason, Engagement: d.EngagementID}, nil
}

func capabilities(in []string) []orgs.Capability {
	out := make([]orgs.Capability, 0, len(in))
	for _, c := range in {
		out = append(out, orgs.Capability(c))
	}
	return out
}
