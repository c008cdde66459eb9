package adminapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

func (s *Server) me(c echo.Context) error {
	p := principal(c)
	out := Me{Principal: p.Name(), Operator: p.Operator}
	if p.Delegation != nil {
		d, err := s.resolver(c.Request().Context()).delegationJSON(p.Delegation)
		if err != nil {
			return err
		}
		out.Delegation = &d
	}
	return c.JSON(http.StatusOK, out)
}

// --- orgs

func (s *Server) createOrg(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	var req CreateOrgRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("name", req.Name); err != nil {
		return err
	}
	if req.Parent == "" {
		if err := operatorOnly(p); err != nil {
			return err
		}
	} else {
		parent, err := s.Directory.Store.OrgBySlug(ctx, req.Parent)
		if err != nil {
			return err
		}
		if err := s.Delegations.Authorize(ctx, p, orgs.CapDelegate, parent); err != nil {
			return err
		}
	}
	o, err := s.Directory.CreateOrg(ctx, req.Name, req.Slug, req.Parent)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).orgJSON(o)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, Prefix+"/orgs/"+o.Slug)
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) getOrg(c echo.Context) error {
	ctx := c.Request().Context()
	o, err := s.Directory.Store.OrgBySlug(ctx, c.Param("slug"))
	if err != nil {
		return err
	}
	if err := s.canSee(ctx, principal(c), o); err != nil {
		return err
	}
	out, err := s.resolver(ctx).orgJSON(o)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) updateOrg(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	o, err := s.Directory.Store.OrgBySlug(ctx, c.Param("slug"))
	if err != nil {
		return err
	}
	var req UpdateOrgRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	// The relationship (kind, status, contract, grace) is decided one level up: an
	// operator, or a delegate whose subtree holds the org's parent. A partner's own
	// administrator can therefore run its subsidiaries' relationships but never
	// reopen its own contract. Name, owner and brand need authority on the org itself.
	relationship := req.Kind.Set || req.Status.Set || req.ContractStart.Set || req.ContractEnd.Set || req.GraceSeconds.Set
	target := o
	if relationship && p.Operator == "" {
		if o.ParentID == "" {
			return orgscim.Errorf(orgscim.Forbidden, "only the vendor's operators may change the root's relationship")
		}
		if target, err = s.Directory.Store.OrgByID(ctx, o.ParentID); err != nil {
			return err
		}
	}
	if err := s.Delegations.Authorize(ctx, p, orgs.CapDelegate, target); err != nil {
		return err
	}
	var u orgs.OrgUpdate
	notNull := func(name string, null bool) error {
		if null {
			return orgscim.Errorf(orgscim.Invalid, "%s cannot be null", name)
		}
		return nil
	}
	if req.Name.Set {
		if err := notNull("name", req.Name.Null); err != nil {
			return err
		}
		u.Name = &req.Name.Value
	}
	if req.Kind.Set {
		if err := notNull("kind", req.Kind.Null); err != nil {
			return err
		}
		k := orgs.Kind(req.Kind.Value)
		u.Kind = &k
	}
	if req.Status.Set {
		if err := notNull("status", req.Status.Null); err != nil {
			return err
		}
		st := orgs.Status(req.Status.Value)
		u.Status = &st
	}
	if req.ContractStart.Set {
		v := req.ContractStart.Ptr()
		u.ContractStart = &v
	}
	if req.ContractEnd.Set {
		v := req.ContractEnd.Ptr()
		u.ContractEnd = &v
	}
	if req.GraceSeconds.Set {
		if req.GraceSeconds.Null || req.GraceSeconds.Value < 0 || req.GraceSeconds.Value > int64(100*365*24*time.Hour/time.Second) {
			return orgscim.Errorf(orgscim.Invalid, "grace_seconds must be between 0 and 100 years")
		}
		g := time.Duration(req.GraceSeconds.Value) * time.Second
		u.Grace = &g
	}
	if req.Owner.Set {
		u.Owner = &req.Owner.Value // null clears it
	}
	if req.Brand.Set {
		b := orgs.Brand{DisplayName: req.Brand.Value.DisplayName, LogoURL: req.Brand.Value.LogoURL,
			PrimaryColor: req.Brand.Value.PrimaryColor, AccentColor: req.Brand.Value.AccentColor}
		u.Brand = &b // null clears it
	}
	updated, err := s.Directory.UpdateOrg(ctx, o.Slug, u)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).orgJSON(updated)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) moveOrg(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	o, err := s.Directory.Store.OrgBySlug(ctx, c.Param("slug"))
	if err != nil {
		return err
	}
	var req MoveOrgRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("parent", req.Parent); err != nil {
		return err
	}
	np, err := s.Directory.Store.OrgBySlug(ctx, req.Parent)
	if err != nil {
		return err
	}
	// Moving takes authority over where the org is and where it goes: the current
	// parent's subtree and the new parent's.
	if p.Operator == "" {
		if o.ParentID == "" {
			return orgscim.Errorf(orgscim.Forbidden, "only the vendor's operators may move the root")
		}
		cur, err := s.Directory.Store.OrgByID(ctx, o.ParentID)
		if err != nil {
			return err
		}
		if err := s.Delegations.Authorize(ctx, p, orgs.CapDelegate, cur); err != nil {
			return err
		}
	}
	if err := s.Delegations.Authorize(ctx, p, orgs.CapDelegate, np); err != nil {
		return err
	}
	if err := s.Directory.MoveOrg(ctx, o.Slug, np.Slug); err != nil {
		return err
	}
	moved, err := s.Directory.Store.OrgByID(ctx, o.ID)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).orgJSON(moved)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) orgAccess(c echo.Context) error {
	ctx := c.Request().Context()
	o, err := s.Directory.Store.OrgBySlug(ctx, c.Param("slug"))
	if err != nil {
		return err
	}
	if err := s.canSee(ctx, principal(c), o); err != nil {
		return err
	}
	hs, err := s.Access.WhoHasAccess(ctx, o.ID)
	if err != nil {
		return err
	}
	holders, err := s.resolver(ctx).holdingsJSON(hs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, OrgAccess{Org: orgRef(o), Holders: holders})
}

// --- connections and tokens (operators only)

func (s *Server) createConnection(c echo.Context) error {
	ctx := c.Request().Context()
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	var req CreateConnectionRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("org", req.Org); err != nil {
		return err
	}
	conn, secret, err := s.Directory.CreateConnection(ctx, req.Org, req.Slug, req.IdP)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).connectionJSON(conn)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, Prefix+"/connections/"+conn.Slug)
	return c.JSON(http.StatusCreated, CreatedConnection{Connection: out, Token: secret})
}

// visibleConnection is the connection the path's slug names, when the caller may see it.
func (s *Server) visibleConnection(c echo.Context) (*orgs.Connection, error) {
	ctx := c.Request().Context()
	conn, err := s.Directory.Connection(ctx, c.Param("slug"))
	if err != nil {
		return nil, err
	}
	if err := s.relatedConnection(ctx, principal(c), conn); err != nil {
		return nil, err
	}
	return conn, nil
}

func (s *Server) getConnection(c echo.Context) error {
	ctx := c.Request().Context()
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	out, err := s.resolver(ctx).connectionJSON(conn)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// newTokenExpiry checks that the caller is an operator and reads the expiry of the token
// it asks for (nil: no expiry).
func newTokenExpiry(c echo.Context) (*time.Time, error) {
	if err := operatorOnly(principal(c)); err != nil {
		return nil, err
	}
	var req ExpiryRequest
	if err := decode(c, &req, true); err != nil {
		return nil, err
	}
	return req.ExpiresAt, nil
}

func (s *Server) issueToken(c echo.Context) error {
	expires, err := newTokenExpiry(c)
	if err != nil {
		return err
	}
	slug := c.Param("slug")
	t, secret, err := s.Directory.IssueToken(c.Request().Context(), slug, expires)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, IssuedToken{Token: tokenJSON(slug, t), Secret: secret})
}

func (s *Server) listTokens(c echo.Context) error {
	ctx := c.Request().Context()
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	slug := c.Param("slug")
	ts, err := s.Directory.Tokens(ctx, slug)
	if err != nil {
		return err
	}
	out := TokenList{Tokens: make([]Token, 0, len(ts))}
	for _, t := range ts {
		out.Tokens = append(out.Tokens, tokenJSON(slug, t))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) revokeToken(c echo.Context) error {
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	if err := s.Directory.RevokeToken(c.Request().Context(), c.Param("slug"), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// --- roles (operators only: they are the vendor's catalogue)

func (s *Server) createRole(c echo.Context) error {
	ctx := c.Request().Context()
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	var req CreateRoleRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if req.MaxDurationSeconds < 0 || req.MaxDurationSeconds > int64(100*365*24*time.Hour/time.Second) {
		return orgscim.Errorf(orgscim.Invalid, "max_duration_seconds must be between 0 and 100 years")
	}
	r, err := s.Access.CreateRole(ctx, orgs.Role{Key: req.Key, Description: req.Description, Permissions: req.Permissions,
		Privileged: req.Privileged, MaxDuration: time.Duration(req.MaxDurationSeconds) * time.Second, Inherits: req.Inherits})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, Prefix+"/roles/"+r.Key)
	return c.JSON(http.StatusCreated, roleJSON(r))
}

func (s *Server) getRole(c echo.Context) error {
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	r, err := s.Access.Store.RoleByKey(c.Request().Context(), c.Param("key"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, roleJSON(r))
}

// --- mappings

func (s *Server) createMapping(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	var req CreateMappingRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("connection", req.Connection, "group_id", req.GroupID, "role", req.Role, "org", req.Org); err != nil {
		return err
	}
	conn, err := s.Directory.Connection(ctx, req.Connection)
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	if s.Groups != nil {
		// Authority first, so that nobody learns which groups exist where it has none.
		if err := s.Delegations.Authorize(ctx, p, orgs.CapManageMappings, org); err != nil {
			return err
		}
		if _, err := s.Groups.Get(ctx, conn.ID, req.GroupID); orgscim.ErrorCode(err) == orgscim.NotFound {
			return orgscim.Errorf(orgscim.Invalid, "connection %s has no group %q", conn.Slug, req.GroupID)
		} else if err != nil {
			return err
		}
	}
	m, err := s.Access.DraftMapping(ctx, p, conn, req.GroupID, req.Role, org.ID, req.Replaces, req.Reason)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	r.remember(org)
	r.conns[conn.ID] = conn
	out, err := r.mappingJSON(m)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, Prefix+"/mappings/"+m.ID)
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) getMapping(c echo.Context) error {
	ctx := c.Request().Context()
	m, err := s.Access.Store.Mapping(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	return s.mappingReply(c, m, true)
}

// mappingReply answers with the mapping, after checking that the caller may see it when
// check is set.
func (s *Server) mappingReply(c echo.Context, m *orgs.Mapping, check bool) error {
	ctx := c.Request().Context()
	r := s.resolver(ctx)
	if check {
		org, err := r.org(m.OrgID)
		if err != nil {
			return err
		}
		if err := s.canSee(ctx, principal(c), org); err != nil {
			return err
		}
	}
	out, err := r.mappingJSON(m)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) approveMapping(c echo.Context) error {
	ctx := c.Request().Context()
	m, err := s.Access.ApproveMapping(ctx, principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return s.mappingReply(c, m, false)
}

func (s *Server) retireMapping(c echo.Context) error {
	ctx := c.Request().Context()
	var req ReasonRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	id := c.Param("id")
	if err := s.Access.RetireMapping(ctx, principal(c), id, req.Reason); err != nil {
		return err
	}
	m, err := s.Access.Store.Mapping(ctx, id)
	if err != nil {
		return err
	}
	return s.mappingReply(c, m, false)
}

// --- grants

func (s *Server) createGrant(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	var req CreateGrantRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("connection", req.Connection, "user_id", req.UserID, "role", req.Role, "org", req.Org); err != nil {
		return err
	}
	conn, err := s.Directory.Connection(ctx, req.Connection)
	if err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	g, err := s.Access.AssignRole(ctx, p, conn, req.UserID, req.Role, org.ID, req.Reason, req.ExpiresAt)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	r.remember(org)
	r.conns[conn.ID] = conn
	out, err := r.grantJSON(g)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

// --- delegations and their keys

func (s *Server) createDelegation(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	var req CreateDelegationRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := required("org", req.Org, "connection", req.Connection, "user_id", req.UserID); err != nil {
		return err
	}
	org, err := s.Directory.Store.OrgBySlug(ctx, req.Org)
	if err != nil {
		return err
	}
	conn, err := s.Directory.Connection(ctx, req.Connection)
	if err != nil {
		return err
	}
	d, err := s.Delegations.Delegate(ctx, p, orgs.DelegationRequest{OrgID: org.ID, HolderConnectionID: conn.ID,
		HolderUserID: req.UserID, Capabilities: capabilities(req.Capabilities), Depth: req.Depth, Expires: req.ExpiresAt})
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	r.remember(org)
	r.conns[conn.ID] = conn
	out, err := r.delegationJSON(d)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, Prefix+"/delegations/"+d.ID)
	return c.JSON(http.StatusCreated, out)
}

func (s *Server) getDelegation(c echo.Context) error {
	ctx := c.Request().Context()
	d, err := s.Delegations.Store.Delegation(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	org, err := r.org(d.OrgID)
	if err != nil {
		return err
	}
	if err := s.canSee(ctx, principal(c), org); err != nil {
		return err
	}
	out, err := r.delegationJSON(d)
	if err != nil {
		return err
	}
	inForce := true
	if _, _, err := s.Delegations.DelegationHolds(ctx, d.ID); orgscim.ErrorCode(err) == orgscim.Forbidden {
		inForce, out.Standing = false, orgscim.ErrorMessage(err)
	} else if err != nil {
		return err
	}
	out.InForce = &inForce
	mu, err := s.Delegations.Store.MadeUnder(ctx, d.ID, 100)
	if err != nil {
		return err
	}
	out.MadeUnder = &MadeUnder{Delegations: nonNil(mu.Delegations), DelegationCount: mu.DelegationCount, Keys: nonNil(mu.Keys),
		KeyCount: mu.KeyCount, Grants: nonNil(mu.Grants), GrantCount: mu.GrantCount, Mappings: nonNil(mu.Mappings),
		MappingCount: mu.MappingCount}
	return c.JSON(http.StatusOK, out)
}

// nonNil makes an empty list [] rather than null in JSON.
func nonNil(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids
}

func (s *Server) revokeDelegation(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	var req RevokeDelegationRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	id := c.Param("id")
	var succ *orgs.DelegationRequest
	var succConn *orgs.Connection
	if sr := req.Successor; sr != nil {
		if err := required("successor.connection", sr.Connection, "successor.user_id", sr.UserID); err != nil {
			return err
		}
		var err error
		if succConn, err = s.Directory.Connection(ctx, sr.Connection); err != nil {
			return err
		}
		succ = &orgs.DelegationRequest{HolderConnectionID: succConn.ID, HolderUserID: sr.UserID,
			Capabilities: capabilities(sr.Capabilities), Depth: sr.Depth, Expires: sr.ExpiresAt}
	}
	rv := orgs.Revocation{Reason: req.Reason, Successor: succ, Compromise: req.Compromise}
	if req.ReattestBy != nil {
		rv.ReattestBy = *req.ReattestBy
	}
	done, err := s.Delegations.Revoke(ctx, p, id, rv)
	if err != nil {
		return err
	}
	d, err := s.Delegations.Store.Delegation(ctx, id)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	out := RevokedDelegation{Cascade: []string{}}
	if out.Revoked, err = r.delegationJSON(d); err != nil {
		return err
	}
	if done.Successor != nil {
		sd, err := r.delegationJSON(done.Successor)
		if err != nil {
			return err
		}
		out.Successor = &sd
	}
	for _, c := range done.Delegations {
		if c.ID != id {
			out.Cascade = append(out.Cascade, c.ID)
		}
	}
	out.Handover = handoverJSON(done.Handover)
	return c.JSON(http.StatusOK, out)
}

func handoverJSON(h orgs.Handover) Handover {
	out := Handover{Grants: h.Grants, Mappings: h.Mappings, RevokedGrants: h.RevokedGrants, RetiredMappings: h.RetiredMappings}
	if h.To != "" {
		out.To = &h.To
	}
	if h.ReattestationID != "" {
		out.Reattestation = &h.ReattestationID
	}
	return out
}

func (s *Server) issueDelegateKey(c echo.Context) error {
	ctx := c.Request().Context()
	var req ExpiryRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	k, secret, err := s.Keys.IssueDelegateKey(ctx, principal(c), c.Param("id"), req.ExpiresAt)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, IssuedKey{ID: k.ID, Key: secret, Hint: k.Hint, DelegationID: k.DelegationID,
		CreatedAt: k.Created, ExpiresAt: k.Expires})
}

func (s *Server) revokeKey(c echo.Context) error {
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	if err := s.Keys.Revoke(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// --- access questions

func (s *Server) check(c echo.Context) error {
	q := c.QueryParams()
	connSlug, user, perm, orgSlug := q.Get("connection"), q.Get("user"), q.Get("permission"), q.Get("org")
	if err := required("connection", connSlug, "user", user, "permission", perm, "org", orgSlug); err != nil {
		return err
	}
	out, err := s.Check(c.Request().Context(), principal(c), connSlug, user, perm, orgSlug)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) userAccess(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	user := c.Param("id")
	hs, err := s.Access.WhatCanUserDo(ctx, conn, user)
	if err != nil {
		return err
	}
	// A delegate sees what the user can do inside its subtree only.
	home, err := s.home(ctx, p)
	if err != nil {
		return err
	}
	if home != nil {
		kept := hs[:0]
		for _, h := range hs {
			if h.Org != nil && home.Contains(h.Org) {
				kept = append(kept, h)
			}
		}
		hs = kept
	}
	r := s.resolver(ctx)
	r.conns[conn.ID] = conn
	holdings, err := r.holdingsJSON(hs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, UserAccess{Connection: conn.Slug, UserID: user, Holdings: holdings})
}
