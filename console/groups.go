package console

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

type groupRow struct {
	Group   *provisioning.Group
	Members []groupMember
	// Mappings are the live and drafted mappings of the group onto orgs the viewer sees.
	Mappings []string
}

type groupMember struct{ Name, URL string }

type groupsView struct {
	Connection *orgs.Connection
	Total      int
	Groups     []groupRow
	People     string
}

// groups lists a connection's groups with their members, read-only: the IdP owns them.
func (s *Server) groups(c echo.Context) error {
	ctx, p := c.Request().Context(), person(c)
	conn, err := s.visibleConnection(c)
	if err != nil {
		return err
	}
	page, err := s.Groups.List(ctx, conn.ID, provisioning.Query{StartIndex: 1, Count: maxListed})
	if err != nil {
		return err
	}
	ms, err := s.Lists.Mappings(ctx, conn.ID, "", "", maxListed)
	if err != nil {
		return err
	}
	people := connURL(conn) + "/people"
	v := groupsView{Connection: conn, Total: page.Total, People: people}
	for _, g := range page.Groups {
		row := groupRow{Group: g}
		err := s.Groups.Members(ctx, conn.ID, g.ID, func(m provisioning.Member) error {
			if len(row.Members) >= maxListed {
				return nil
			}
			name := m.Display
			if name == "" {
				name = m.Value
			}
			row.Members = append(row.Members, groupMember{Name: name, URL: people + "/" + url.PathEscape(m.Value)})
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.GroupID != g.ID || m.State == orgs.MappingRetired {
				continue
			}
			o, err := s.Directory.Store.OrgByID(ctx, m.OrgID)
			if err != nil {
				return err
			}
			if !p.Sees(o) {
				continue
			}
			r, err := s.Access.Store.RoleByID(ctx, m.RoleID)
			if err != nil {
				return err
			}
			row.Mappings = append(row.Mappings, r.Key+" on "+o.Slug+" ("+string(m.State)+")")
		}
		v.Groups = append(v.Groups, row)
	}
	out := view{Title: "Groups of " + conn.Slug, Page: v}
	if err := s.wearConnection(ctx, &out, conn); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "groups", out)
}
