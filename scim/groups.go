package scim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/elimity-com/scim/schema"
	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
)

// GroupService is what the adapter needs of provisioning for groups.
type GroupService interface {
	Create(ctx context.Context, conn string, attrs map[string]any, members []provisioning.Member) (*provisioning.Group, error)
	Get(ctx context.Context, conn, id string) (*provisioning.Group, error)
	Members(ctx context.Context, conn, id string, fn func(provisioning.Member) error) error
	Update(ctx context.Context, conn, id string, fn func(*provisioning.Group) ([]provisioning.MemberChange, error)) (*provisioning.Group, error)
	Delete(ctx context.Context, conn, id string, check func(*provisioning.Group) error) error
	List(ctx context.Context, conn string, q provisioning.Query) (provisioning.GroupPage, error)
	GroupsOf(ctx context.Context, conn string, userIDs []string) (map[string][]provisioning.GroupRef, error)
}

func groupType() *resourceType {
	return &resourceType{Name: "Group", Endpoint: "/Groups", Schema: schema.CoreGroupSchema()}
}

// parseMembers reads a members value as IdPs send it: an array of objects, one object,
// or bare id strings (Entra). The display may come as "display" or, from Microsoft's
// tests, "displayName".
func (s *Server) parseMembers(v any) ([]provisioning.Member, error) {
	var list []any
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []any:
		list = v
	default:
		list = []any{v}
	}
	if len(list) > s.Limits.MaxMembers {
		return nil, orgscim.Errorf(orgscim.TooMany, "at most %d members per request", s.Limits.MaxMembers)
	}
	out := make([]provisioning.Member, 0, len(list))
	for _, e := range list {
		var m provisioning.Member
		switch e := e.(type) {
		case string:
			m.Value = e
		case map[string]any:
			for k, v := range e {
				sv, _ := v.(string)
				switch strings.ToLower(k) {
				case "value":
					if _, ok := v.(string); !ok {
						return nil, orgscim.Errorf(orgscim.InvalidValue, "a member's value must be a string id")
					}
					m.Value = sv
				case "display", "displayname":
					m.Display = sv
				case "type":
					m.Type = sv
				}
			}
		default:
			return nil, orgscim.Errorf(orgscim.InvalidValue, "a member must be an object with a value, or an id")
		}
		if strings.TrimSpace(m.Value) == "" {
			return nil, orgscim.Errorf(orgscim.InvalidValue, "a member needs a value")
		}
		out = append(out, m)
	}
	return out, nil
}

// groupAttributes validates a POST or PUT body: members are taken out first (they live
// in their own table and may be bare strings), the rest checked against the schema.
func (s *Server) groupAttributes(body map[string]any) (map[string]any, []provisioning.Member, error) {
	var members []provisioning.Member
	rest := make(map[string]any, len(body))
	for k, v := range body {
		if strings.EqualFold(k, "members") {
			m, err := s.parseMembers(v)
			if err != nil {
				return nil, nil, err
			}
			members = m
			continue
		}
		rest[k] = v
	}
	attrs, serr := s.groups.Schema.Validate(rest)
	if serr != nil {
		return nil, nil, fromLibrary(serr)
	}
	for k, v := range rest {
		if strings.EqualFold(k, "externalId") && v != nil {
			ext, ok := v.(string)
			if !ok {
				return nil, nil, orgscim.Errorf(orgscim.InvalidValue, "externalId must be a string")
			}
			attrs["externalId"] = ext
		}
	}
	delete(attrs, "members")
	return attrs, members, nil
}

func (s *Server) createGroup(c echo.Context) error {
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	attrs, members, err := s.groupAttributes(body)
	if err != nil {
		return err
	}
	g, err := s.Groups.Create(c.Request().Context(), connection(c).ID, attrs, members)
	if err != nil {
		return err
	}
	return s.respondGroup(c, http.StatusCreated, g)
}

func (s *Server) getGroup(c echo.Context) error {
	g, err := s.Groups.Get(c.Request().Context(), connection(c).ID, c.Param("id"))
	if err != nil {
		return err
	}
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagMatches(inm, g.Version) {
		c.Response().Header().Set("ETag", etag(g.Version))
		return c.NoContent(http.StatusNotModified)
	}
	return s.respondGroup(c, http.StatusOK, g)
}

func groupIfMatch(c echo.Context) func(*provisioning.Group) error {
	h := c.Request().Header.Get("If-Match")
	return func(g *provisioning.Group) error {
		if h != "" && !etagMatches(h, g.Version) {
			return orgscim.Errorf(orgscim.Precondition, "the resource has changed: its version is %s", etag(g.Version))
		}
		return nil
	}
}

func (s *Server) replaceGroup(c echo.Context) error {
	body, err := readJSON(c)
	if err != nil {
		return err
	}
	attrs, members, err := s.groupAttributes(body)
	if err != nil {
		return err
	}
	check := groupIfMatch(c)
	g, err := s.Groups.Update(c.Request().Context(), connection(c).ID, c.Param("id"), func(g *provisioning.Group) ([]provisioning.MemberChange, error) {
		if err := check(g); err != nil {
			return nil, err
		}
		g.Attributes = attrs
		return []provisioning.MemberChange{{Kind: provisioning.ReplaceMembers, Members: members}}, nil
	})
	if err != nil {
		return err
	}
	return s.respondGroup(c, http.StatusOK, g)
}

func (s *Server) patchGroup(c echo.Context) error {
	ops, err := s.readPatch(c)
	if err != nil {
		return err
	}
	docOps, changes, err := s.splitMemberOps(ops)
	if err != nil {
		return err
	}
	check := groupIfMatch(c)
	g, err := s.Groups.Update(c.Request().Context(), connection(c).ID, c.Param("id"), func(g *provisioning.Group) ([]provisioning.MemberChange, error) {
		if err := check(g); err != nil {
			return nil, err
		}
		if len(docOps) > 0 {
			doc := deepCopy(g.Attributes)
			if err := applyPatch(s.groups, doc, docOps); err != nil {
				return nil, err
			}
			attrs, _, err := s.groupAttributes(doc)
			if err != nil {
				return nil, err
			}
			g.Attributes = attrs
		}
		return changes, nil
	})
	if err != nil {
		return err
	}
	if patchAnswersResource(c) {
		return s.respondGroup(c, http.StatusOK, g)
	}
	c.Response().Header().Set("ETag", etag(g.Version))
	return c.NoContent(http.StatusNoContent)
}

// splitMemberOps separates the operations on members, which become member changes
// applied row by row, from those on the group's other attributes, which are applied to
// its document. Order among member changes is kept.
func (s *Server) splitMemberOps(ops []patchOp) ([]patchOp, []provisioning.MemberChange, error) {
	var (
		docOps  []patchOp
		changes []provisioning.MemberChange
		total   int
	)
	add := func(kind provisioning.ChangeKind, v any) error {
		ms, err := s.parseMembers(v)
		if err != nil {
			return err
		}
		total += len(ms)
		if total > s.Limits.MaxMembers {
			return orgscim.Errorf(orgscim.TooMany, "at most %d members per request", s.Limits.MaxMembers)
		}
		changes = append(changes, provisioning.MemberChange{Kind: kind, Members: ms})
		return nil
	}
	for i, op := range ops {
		kind := strings.ToLower(op.Op)
		path := strings.TrimSpace(op.Path)
		if p := strings.ToLower(path); strings.HasPrefix(p, strings.ToLower(schema.GroupSchema)+":") {
			path = path[len(schema.GroupSchema)+1:]
		}
		lower := strings.ToLower(path)
		var err error
		switch {
		case path == "" && kind != opRemove:
			obj, ok := op.Value.(map[string]any)
			if !ok {
				return nil, nil, orgscim.Errorf(orgscim.InvalidValue, "Operations[%d]: a path-less %s needs an object value", i, kind)
			}
			rest := map[string]any{}
			for k, v := range obj {
				if strings.EqualFold(k, "members") {
					if kind == opAdd {
						err = add(provisioning.AddMembers, v)
					} else {
						err = add(provisioning.ReplaceMembers, v)
					}
					if err != nil {
						return nil, nil, err
					}
					continue
				}
				rest[k] = v
			}
			if len(rest) > 0 {
				docOps = append(docOps, patchOp{Op: op.Op, Value: rest})
			}
		case lower == "members":
			switch kind {
			case opAdd:
				err = add(provisioning.AddMembers, op.Value)
			case opReplace:
				err = add(provisioning.ReplaceMembers, op.Value)
			case opRemove:
				if op.Value == nil {
					changes = append(changes, provisioning.MemberChange{Kind: provisioning.RemoveAllMembers})
				} else {
					// Entra removes members by value; exactly those go, never all.
					err = add(provisioning.RemoveMembers, op.Value)
				}
			default:
				err = orgscim.Errorf(orgscim.InvalidSyntax, "Operations[%d]: unknown op %q", i, op.Op)
			}
			if err != nil {
				return nil, nil, err
			}
		case strings.HasPrefix(lower, "members["):
			ids, err := memberFilterIDs(path)
			if err != nil {
				return nil, nil, orgscim.Errorf(orgscim.InvalidPath, "Operations[%d]: %s", i, orgscim.ErrorMessage(err))
			}
			if kind != opRemove {
				return nil, nil, orgscim.Errorf(orgscim.InvalidPath, "Operations[%d]: a member filter path is supported for remove only", i)
			}
			ms := make([]provisioning.Member, len(ids))
			for j, id := range ids {
				ms[j] = provisioning.Member{Value: id}
			}
			changes = append(changes, provisioning.MemberChange{Kind: provisioning.RemoveMembers, Members: ms})
		default:
			docOps = append(docOps, op)
		}
	}
	return docOps, changes, nil
}

// memberFilterIDs reads members[value eq "a"] or members[value eq "a" or value eq "b"],
// the forms Okta and Entra use to remove members.
func memberFilterIDs(path string) ([]string, error) {
	open := strings.IndexByte(path, '[')
	end := strings.LastIndexByte(path, ']')
	if end != len(path)-1 || end < open {
		return nil, orgscim.Errorf(orgscim.InvalidPath, "members[...] must end the path")
	}
	var ids []string
	for _, part := range splitOr(path[open+1 : end]) {
		fields := strings.Fields(quoteBareLiterals(part))
		if len(fields) != 3 || !strings.EqualFold(fields[0], "value") || !strings.EqualFold(fields[1], "eq") {
			return nil, orgscim.Errorf(orgscim.InvalidPath, "only value eq \"id\" (joined by or) selects members")
		}
		var id string
		if err := json.Unmarshal([]byte(fields[2]), &id); err != nil || strings.ContainsRune(id, 0) {
			return nil, orgscim.Errorf(orgscim.InvalidPath, "the member id must be a string")
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func splitOr(s string) []string {
	var parts []string
	for {
		i := strings.Index(strings.ToLower(s), " or ")
		if i < 0 {
			return append(parts, s)
		}
		parts = append(parts, s[:i])
		s = s[i+4:]
	}
}

func (s *Server) deleteGroup(c echo.Context) error {
	if err := s.Groups.Delete(c.Request().Context(), connection(c).ID, c.Param("id"), groupIfMatch(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listGroups(c echo.Context) error {
	p, err := listParamsOf(c)
	if err != nil {
		return err
	}
	return s.queryGroups(c, p)
}

func (s *Server) searchGroups(c echo.Context) error {
	p, err := searchParamsOf(c)
	if err != nil {
		return err
	}
	return s.queryGroups(c, p)
}

func renderGroupHead(c echo.Context, g *provisioning.Group) map[string]any {
	out := make(map[string]any, len(g.Attributes)+3)
	for k, v := range g.Attributes {
		out[k] = v
	}
	out["schemas"] = []string{schema.GroupSchema}
	out["id"] = g.ID
	out["meta"] = map[string]any{
		"resourceType": "Group",
		"created":      timestamp(g.Created),
		"lastModified": timestamp(g.LastModified),
		"location":     location(c, "/Groups", g.ID),
		"version":      etag(g.Version),
	}
	return out
}

// wantsMembers says whether the projection returns members; when it does not, they
// are not read at all.
func (p projection) wantsMembers() bool {
	key := strings.ToLower(schema.GroupSchema) + ".members"
	if p.exclude[key] {
		return false
	}
	return p.include == nil || p.include[key] || p.anyInclude(key+".")
}

// writeGroup writes one group as JSON to w, streaming its members from the store so
// that a group of any size is held in memory at most one member at a time.
func (s *Server) writeGroup(c echo.Context, w *bufio.Writer, g *provisioning.Group, p projection) error {
	head := p.apply(s.groups, renderGroupHead(c, g))
	delete(head, "members")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(head); err != nil {
		return err
	}
	b := bytes.TrimRight(buf.Bytes(), "\n")
	if !p.wantsMembers() {
		_, err := w.Write(b)
		return err
	}
	w.Write(b[:len(b)-1]) // drop the closing brace
	w.WriteString(`,"members":[`)
	first := true
	base := c.Scheme() + "://" + c.Request().Host + Prefix + connection(c).Slug
	err := s.Groups.Members(c.Request().Context(), connection(c).ID, g.ID, func(m provisioning.Member) error {
		if !first {
			w.WriteByte(',')
		}
		first = false
		buf.Reset()
		ref := base + "/Users/" + m.Value
		if m.Type == provisioning.MemberGroup {
			ref = base + "/Groups/" + m.Value
		}
		member := map[string]any{"value": m.Value, "type": m.Type, "$ref": ref}
		if m.Display != "" {
			member["display"] = m.Display
		}
		if err := enc.Encode(member); err != nil {
			return err
		}
		_, err := w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
		return err
	})
	if err != nil {
		return err
	}
	_, err = w.WriteString("]}")
	return err
}

// startStream commits the status and headers of a streamed response. Errors after this
// point can only cut the response short; they are logged.
func startStream(c echo.Context, code int) *bufio.Writer {
	c.Response().Header().Set(echo.HeaderContentType, ContentType)
	c.Response().WriteHeader(code)
	return bufio.NewWriterSize(c.Response(), 32<<10)
}

// startList commits a 200 ListResponse and writes it up to the opening of its Resources
// array; the caller streams the resources and closes with "]}".
func startList(c echo.Context, total, startIndex, itemsPerPage int) *bufio.Writer {
	w := startStream(c, http.StatusOK)
	head, _ := json.Marshal(map[string]any{
		"schemas": []string{listSchema}, "totalResults": total,
		"startIndex": startIndex, "itemsPerPage": itemsPerPage,
	})
	w.Write(head[:len(head)-1])
	w.WriteString(`,"Resources":[`)
	return w
}

// writeGroups streams groups as elements of a Resources array, with a comma before the
// first when comma is set (elements precede them).
func (s *Server) writeGroups(c echo.Context, w *bufio.Writer, groups []*provisioning.Group, p projection, comma bool) error {
	for _, g := range groups {
		if comma {
			w.WriteByte(',')
		}
		comma = true
		if err := s.writeGroup(c, w, g, p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) respondGroup(c echo.Context, code int, g *provisioning.Group) error {
	p, err := s.parseProjection(s.groups, splitList(c.QueryParam("attributes")), splitList(c.QueryParam("excludedAttributes")))
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", etag(g.Version))
	if code == http.StatusCreated {
		c.Response().Header().Set("Location", location(c, "/Groups", g.ID))
	}
	w := startStream(c, code)
	if err := s.writeGroup(c, w, g, p); err != nil {
		s.streamFailed(c, err)
		return nil
	}
	w.WriteByte('\n')
	return w.Flush()
}

func (s *Server) streamFailed(c echo.Context, err error) {
	s.logger().Error("response cut short", "route", c.Path(), "error", err.Error())
}

func (s *Server) queryGroups(c echo.Context, lp listParams) error {
	q, err := s.query(s.groups, lp)
	if err != nil {
		return err
	}
	p, err := s.parseProjection(s.groups, lp.Attributes, lp.Excluded)
	if err != nil {
		return err
	}
	page, err := s.Groups.List(c.Request().Context(), connection(c).ID, q)
	if err != nil {
		return err
	}
	w := startList(c, page.Total, q.StartIndex, len(page.Groups))
	if err := s.writeGroups(c, w, page.Groups, p, false); err != nil {
		s.streamFailed(c, err)
		return nil
	}
	w.WriteString("]}\n")
	return w.Flush()
}
