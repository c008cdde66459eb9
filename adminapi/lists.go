package adminapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// Lists pages through the control plane's collections, by id after a cursor.
type Lists interface {
	ChildOrgs(ctx context.Context, parentID, after string, limit int) ([]*orgs.Org, error)
	Connections(ctx context.Context, orgID, after string, limit int) ([]*orgs.Connection, error)
	Roles(ctx context.Context, after string, limit int) ([]*orgs.Role, error)
	Mappings(ctx context.Context, connID, state, after string, limit int) ([]*orgs.Mapping, error)
	Grants(ctx context.Context, orgID string, live bool, after string, limit int) ([]*orgs.Grant, error)
	Delegations(ctx context.Context, orgID, after string, limit int) ([]*orgs.Delegation, error)
}

// Page is one page of a listing: next_cursor, when set, asks for the next one.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty" doc:"pass as cursor for the next page; absent on the last"`
}

var pageParams = []param{
	{"cursor", "the next_cursor of the previous page", false},
	{"limit", "page size, 1 to 1000 (default 100)", false},
}

func pageOf(c echo.Context) (after string, limit int, err error) {
	limit = 100
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return "", 0, orgscim.Errorf(orgscim.Invalid, "limit must be an integer from 1 to 1000")
		}
	}
	return c.QueryParam("cursor"), limit, nil
}

// reply converts items and answers with the page; a full page names its last id as the
// cursor of the next.
func reply[S any, T any](c echo.Context, items []S, limit int, id func(S) string, conv func(S) (T, error)) error {
	out, err := pageOfItems(items, limit, id, conv)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// pageOfItems is the page reply answers, for a listing that says more beside it.
func pageOfItems[S any, T any](items []S, limit int, id func(S) string, conv func(S) (T, error)) (Page[T], error) {
	out := Page[T]{Items: make([]T, 0, len(items))}
	for _, x := range items {
		v, err := conv(x)
		if err != nil {
			return Page[T]{}, err
		}
		out.Items = append(out.Items, v)
	}
	if len(items) == limit {
		out.NextCursor = id(items[len(items)-1])
	}
	return out, nil
}

// page is the listing store and the page a listing request asks for.
func (s *Server) page(c echo.Context) (ls Lists, after string, limit int, err error) {
	if s.Lists == nil {
		return nil, "", 0, orgscim.Errorf(orgscim.NotImplemented, "listing is not available")
	}
	after, limit, err = pageOf(c)
	return s.Lists, after, limit, err
}

// listOnOrg answers a listing of what lies on the org its org parameter names, which
// the caller must be allowed to see.
func listOnOrg[T, J any](s *Server, c echo.Context,
	fetch func(ctx context.Context, ls Lists, orgID, after string, limit int) ([]T, error),
	id func(T) string, conv func(r *resolver, x T) (J, error)) error {
	ls, after, limit, err := s.page(c)
	if err != nil {
		return err
	}
	o, err := s.visibleOrg(c, "org")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	items, err := fetch(ctx, ls, o.ID, after, limit)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	r.remember(o)
	return reply(c, items, limit, id, func(x T) (J, error) { return conv(r, x) })
}

// visibleOrg resolves the org query parameter and checks that the caller may see it.
func (s *Server) visibleOrg(c echo.Context, name string) (*orgs.Org, error) {
	slug := c.QueryParam(name)
	if slug == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "missing %s", name)
	}
	ctx := c.Request().Context()
	o, err := s.Directory.Store.OrgBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	return o, s.canSee(ctx, principal(c), o)
}

func (s *Server) listOrgs(c echo.Context) error {
	ls, after, limit, err := s.page(c)
	if err != nil {
		return err
	}
	parentID := ""
	if c.QueryParam("parent") != "" {
		parent, err := s.visibleOrg(c, "parent")
		if err != nil {
			return err
		}
		parentID = parent.ID
	} else if err := operatorOnly(principal(c)); err != nil {
		return err // the roots are the vendor's
	}
	ctx := c.Request().Context()
	items, err := ls.ChildOrgs(ctx, parentID, after, limit)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	return reply(c, items, limit, func(o *orgs.Org) string { return o.ID }, r.orgJSON)
}

func (s *Server) listConnections(c echo.Context) error {
	return listOnOrg(s, c, func(ctx context.Context, ls Lists, org, after string, limit int) ([]*orgs.Connection, error) {
		return ls.Connections(ctx, org, after, limit)
	}, func(x *orgs.Connection) string { return x.ID }, (*resolver).connectionJSON)
}

func (s *Server) listRoles(c echo.Context) error {
	ls, after, limit, err := s.page(c)
	if err != nil {
		return err
	}
	items, err := ls.Roles(c.Request().Context(), after, limit)
	if err != nil {
		return err
	}
	return reply(c, items, limit, func(x *orgs.Role) string { return x.ID }, func(x *orgs.Role) (Role, error) { return roleJSON(x), nil })
}

func (s *Server) listMappings(c echo.Context) error {
	ls, after, limit, err := s.page(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	slug := c.QueryParam("connection")
	if slug == "" {
		return orgscim.Errorf(orgscim.Invalid, "missing connection")
	}
	conn, err := s.Directory.Connection(ctx, slug)
	if err != nil {
		return err
	}
	if err := s.relatedConnection(ctx, principal(c), conn); err != nil {
		return err
	}
	items, err := ls.Mappings(ctx, conn.ID, c.QueryParam("state"), after, limit)
	if err != nil {
		return err
	}
	r := s.resolver(ctx)
	r.conns[conn.ID] = conn
	if p := principal(c); p.Operator == "" {
		// A delegate sees the mappings onto its subtree only.
		var mine []*orgs.Mapping
		for _, m := range items {
			o, err := r.org(m.OrgID)
			if err != nil {
				return err
			}
			if s.canSee(ctx, p, o) == nil {
				mine = append(mine, m)
			}
		}
		if len(items) == limit && len(mine) < limit {
			// keep paging by the unfiltered page's last id
			out := Page[Mapping]{Items: []Mapping{}, NextCursor: items[len(items)-1].ID}
			for _, m := range mine {
				v, err := r.mappingJSON(m)
				if err != nil {
					return err
				}
				out.Items = append(out.Items, v)
			}
			return c.JSON(http.StatusOK, out)
		}
		items = mine
	}
	return reply(c, items, limit, func(x *orgs.Mapping) string { return x.ID }, r.mappingJSON)
}

func (s *Server) listGrants(c echo.Context) error {
	live := c.QueryParam("live") != "false"
	return listOnOrg(s, c, func(ctx context.Context, ls Lists, org, after string, limit int) ([]*orgs.Grant, error) {
		return ls.Grants(ctx, org, live, after, limit)
	}, func(x *orgs.Grant) string { return x.ID }, (*resolver).grantJSON)
}

func (s *Server) listDelegations(c echo.Context) error {
	return listOnOrg(s, c, func(ctx context.Context, ls Lists, org, after string, limit int) ([]*orgs.Delegation, error) {
		return ls.Delegations(ctx, org, after, limit)
	}, func(x *orgs.Delegation) string { return x.ID }, (*resolver).delegationJSON)
}
