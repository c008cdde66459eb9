package scim

import (
	"bytes"
	"encoding/json"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
)

// searchRoot answers POST /.search at the connection's root (RFC 7644 §3.4.3): one list
// of Users followed by Groups, each resource naming its type in schemas and
// meta.resourceType.
//
// Attribute names are resolved per resource type: a filter that does not resolve against
// a type's schema (userName for Groups, members for Users) selects none of that type, and
// attributes / excludedAttributes names that a type lacks do not apply to it. A name that
// no type knows is an error. Paging runs over the concatenation, so startIndex and count
// mean what they mean on one endpoint. sortBy is refused: the two types share no stored
// order, and ordering across them would mean reading both in full.
func (s *Server) searchRoot(c echo.Context) error {
	lp, err := searchParamsOf(c)
	if err != nil {
		return err
	}
	if lp.SortBy != "" {
		return orgscim.Errorf(orgscim.InvalidValue,
			"sortBy is not supported in a search at the root; search /Users/.search or /Groups/.search to sort")
	}
	uq, uerr := s.query(s.users, lp)
	gq, gerr := s.query(s.groups, lp)
	switch {
	case uerr != nil && gerr != nil:
		return uerr
	case uerr != nil && orgscim.ErrorCode(uerr) != orgscim.InvalidFilter:
		return uerr
	case gerr != nil && orgscim.ErrorCode(gerr) != orgscim.InvalidFilter:
		return gerr
	}
	up, gp, err := s.rootProjections(lp)
	if err != nil {
		return err
	}

	ctx, conn := c.Request().Context(), connection(c).ID
	start, count := uq.StartIndex, uq.Count
	var users provisioning.UserPage
	if uerr == nil {
		if users, err = s.Users.List(ctx, conn, uq); err != nil {
			return err
		}
	}
	// The groups' part of the page starts where the users end.
	var groups provisioning.GroupPage
	if gerr == nil {
		gq.StartIndex = max(1, start-users.Total)
		gq.Count = count - len(users.Users)
		if groups, err = s.Groups.List(ctx, conn, gq); err != nil {
			return err
		}
	}
	memberships, err := s.groupsOf(c, up, users.Users...)
	if err != nil {
		return err
	}

	w := startList(c, users.Total+groups.Total, start, len(users.Users)+len(groups.Groups))
	var buf bytes.Buffer
	for i, u := range users.Users {
		if i > 0 {
			w.WriteByte(',')
		}
		b, err := marshalResource(&buf, up.apply(s.users, renderUser(c, u, memberships[u.ID])))
		if err != nil {
			s.streamFailed(c, err)
			return nil
		}
		w.Write(b)
	}
	if err := s.writeGroups(c, w, groups.Groups, gp, len(users.Users) > 0); err != nil {
		s.streamFailed(c, err)
		return nil
	}
	w.WriteString("]}\n")
	return w.Flush()
}

// rootProjections resolves attributes and excludedAttributes for Users and for Groups;
// each type takes the names it knows, and a name that neither knows is an error.
func (s *Server) rootProjections(lp listParams) (users, groups projection, err error) {
	split := func(names []string) (forUsers, forGroups []string, err error) {
		for _, n := range names {
			_, uerr := projectionSet(s.users, []string{n})
			_, gerr := projectionSet(s.groups, []string{n})
			if uerr != nil && gerr != nil {
				return nil, nil, uerr
			}
			if uerr == nil {
				forUsers = append(forUsers, n)
			}
			if gerr == nil {
				forGroups = append(forGroups, n)
			}
		}
		return forUsers, forGroups, nil
	}
	ua, ga, err := split(lp.Attributes)
	if err != nil {
		return users, groups, err
	}
	ux, gx, err := split(lp.Excluded)
	if err != nil {
		return users, groups, err
	}
	if users, err = s.parseProjection(s.users, ua, ux); err != nil {
		return users, groups, err
	}
	if groups, err = s.parseProjection(s.groups, ga, gx); err != nil {
		return users, groups, err
	}
	// attributes=userName must not return whole Groups: a type that knows none of the
	// requested attributes returns only what is always returned (id, schemas).
	if len(lp.Attributes) > 0 {
		if users.include == nil {
			users.include = map[string]bool{}
		}
		if groups.include == nil {
			groups.include = map[string]bool{}
		}
	}
	return users, groups, nil
}

// marshalResource appends the JSON of one rendered resource to buf, HTML left unescaped
// as in every other response.
func marshalResource(buf *bytes.Buffer, v map[string]any) ([]byte, error) {
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// bulk answers /Bulk: the ServiceProviderConfig says bulk.supported is false, and a
// client that tries anyway is told so plainly rather than that the endpoint is missing.
func (s *Server) bulk(c echo.Context) error {
	return orgscim.Errorf(orgscim.NotImplemented,
		"Bulk is not supported (ServiceProviderConfig bulk.supported is false); send each operation on its own")
}
