// Package scim is the SCIM 2.0 protocol adapter (RFC 7643/7644): it routes
// /scim/v2/{connection}/..., authenticates the connection's bearer token, turns requests
// into calls of the provisioning domain and domain errors into SCIM error documents.
// Each authenticated request carries an audit.Source (the token, the request id, the
// client address), from which the domain attributes the audit events of its changes.
//
// Schemas, their validation and the discovery documents come from elimity-com/scim; what
// that library leaves open — filters into queries, PATCH, sorting, attribute projection,
// ETags and the dialects of real IdPs — is done here.
//
// Each connection has a token-bucket rate limit, taken after authentication. With
// Server.Buckets set (PostgreSQL: sqlstore.RateBuckets, one atomic UPDATE per take)
// replicas on one database share each connection's bucket, so the limit is the same
// however many replicas serve it; a replica takes a few tokens at a time, so most
// requests cost no statement (see shared). Without it (SQLite, one process) the buckets
// live in this process's memory. With Limits.InFlight set, at most that many SCIM
// requests are served at once and the rest wait in arrival order (admit).
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/elimity-com/scim/schema"
	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/internal/jsonvalue"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"golang.org/x/sync/semaphore"
)

// Authenticator resolves a connection and the token used from the {connection} URL
// segment and a bearer token. It answers one Unauthorized error for every failure.
type Authenticator interface {
	AuthenticateToken(ctx context.Context, connSlug, secret string) (*orgs.Connection, *orgs.Token, error)
}

// UserService is what the adapter needs of provisioning.
type UserService interface {
	Create(ctx context.Context, conn string, attrs map[string]any, password string) (*provisioning.User, error)
	Get(ctx context.Context, conn, id string) (*provisioning.User, error)
	Update(ctx context.Context, conn, id string, fn func(*provisioning.User) error) (*provisioning.User, error)
	Delete(ctx context.Context, conn, id string, check func(*provisioning.User) error) error
	List(ctx context.Context, conn string, q provisioning.Query) (provisioning.UserPage, error)
}

// Limits cap what one request may ask for. The zero value means the defaults.
type Limits struct {
	MaxResults     int // the largest page; default 1000
	DefaultCount   int // the page size when count is absent; default 100
	MaxFilterBytes int // default 4096
	MaxFilterDepth int // nesting of and/or/not/grouping; default 24
	MaxOperations  int // PATCH operations per request; default 1000
	MaxMembers     int // group members named in one request; default 10000

	// RateLimit is the requests per second one connection may make, measured by a token
	// bucket per connection after authentication; default 200, negative for no limit.
	RateLimit float64
	// RateBurst is how many requests a connection may make at once, the bucket's size;
	// default twice RateLimit (at least 1).
	RateBurst int
	// InFlight is how many SCIM requests the server works on at once, of every
	// connection; the others wait their turn in arrival order (see admit). Zero is no
	// bound.
	InFlight int
}

func (l Limits) withDefaults() Limits {
	if l.MaxResults <= 0 {
		l.MaxResults = 1000
	}
	if l.DefaultCount <= 0 {
		l.DefaultCount = 100
	}
	if l.DefaultCount > l.MaxResults {
		l.DefaultCount = l.MaxResults
	}
	if l.MaxFilterBytes <= 0 {
		l.MaxFilterBytes = 4096
	}
	if l.MaxFilterDepth <= 0 {
		l.MaxFilterDepth = 24
	}
	if l.MaxOperations <= 0 {
		l.MaxOperations = 1000
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = 10000
	}
	if l.RateLimit == 0 {
		l.RateLimit = 200
	}
	if l.RateBurst <= 0 {
		l.RateBurst = max(1, int(2*l.RateLimit))
	}
	return l
}

// Server serves SCIM for every connection.
type Server struct {
	Auth   Authenticator
	Users  UserService
	Groups GroupService
	Logger *slog.Logger
	Limits Limits
	// Activator, when set, makes a pending connection active after its first
	// successful change.
	Activator Activator
	// Health, when set, receives every authenticated request for its connection's
	// health (see RecordRequests); Now is the clock of its entries, nil for time.Now.
	Health RequestRecorder
	Now    func() time.Time
	// Buckets, when set, hold the rate-limit buckets instead of this process's memory:
	// replicas on one database share them, so a connection's limit is the same however
	// many replicas serve it.
	Buckets SharedBuckets

	users    *resourceType
	groups   *resourceType
	limiters *limiters           // nil when rate limiting is off
	shared   *shared             // Buckets, when set and rate limiting is on
	gate     *semaphore.Weighted // Limits.InFlight's, nil when there is no bound
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Prefix is where SCIM lives; the connection segment follows it.
const Prefix = "/scim/v2/"

// Register mounts the SCIM routes on e. Errors of SCIM paths are answered by
// ErrorHandler, which the caller installs for those paths.
func (s *Server) Register(e *echo.Echo) {
	// Entra sends "True"/"False" for booleans; the library accepts them only with this
	// process-wide switch.
	schema.SetAllowStringValues(true)
	s.Limits = s.Limits.withDefaults()
	s.users = userType()
	s.groups = groupType()
	s.limiters = newLimiters(s.Limits.RateLimit, s.Limits.RateBurst)
	s.gate = newGate(s.Limits.InFlight)
	if s.Buckets != nil && s.limiters != nil {
		s.shared = newShared(s.Buckets, s.Limits.RateLimit, s.Limits.RateBurst)
	}

	// Rate limiting runs after authentication: its budget is the connection's, and a
	// request that fails to authenticate never spends it.
	g := e.Group(Prefix+":conn", s.admit, s.authenticate, s.rateLimit)
	g.GET("/ServiceProviderConfig", s.serviceProviderConfig)
	g.GET("/ResourceTypes", s.resourceTypes)
	g.GET("/ResourceTypes/:id", s.resourceTypeByID)
	g.GET("/Schemas", s.schemas)
	g.GET("/Schemas/:id", s.schemaByID)

	g.GET("/Users", s.listUsers)
	g.POST("/Users/.search", s.searchUsers)
	g.POST("/Users", s.createUser)
	g.GET("/Users/:id", s.getUser)
	g.PUT("/Users/:id", s.replaceUser)
	g.PATCH("/Users/:id", s.patchUser)
	g.DELETE("/Users/:id", s.deleteUser)

	g.GET("/Groups", s.listGroups)
	g.POST("/Groups/.search", s.searchGroups)
	g.POST("/Groups", s.createGroup)
	g.GET("/Groups/:id", s.getGroup)
	g.PUT("/Groups/:id", s.replaceGroup)
	g.PATCH("/Groups/:id", s.patchGroup)
	g.DELETE("/Groups/:id", s.deleteGroup)

	g.POST("/.search", s.searchRoot)
	g.POST("/Bulk", s.bulk)

	methodNotAllowed(e, g)
}

// methodNotAllowed makes every SCIM endpoint answer a method it does not support with
// 405 and an Allow header. Without it the group's catch-all route, which echo adds so
// that authentication runs for unknown paths too, would answer 404.
func methodNotAllowed(e *echo.Echo, g *echo.Group) {
	root := Prefix + ":conn"
	allowed := map[string][]string{}
	for _, r := range e.Routes() {
		if strings.HasPrefix(r.Path, root+"/") && r.Method != echo.RouteNotFound {
			allowed[r.Path] = append(allowed[r.Path], r.Method)
		}
	}
	for path, methods := range allowed {
		slices.Sort(methods)
		allow := strings.Join(methods, ", ")
		h := func(c echo.Context) error {
			c.Response().Header().Set(echo.HeaderAllow, allow)
			return echo.ErrMethodNotAllowed
		}
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if !slices.Contains(methods, m) {
				g.Add(m, path[len(root):], h)
			}
		}
	}
}

// ErrorHandler answers any error on a SCIM path as a SCIM error document.
func (s *Server) ErrorHandler(err error, c echo.Context) { s.handleError(err, c) }

// canonicalEndpoints spells the endpoints as RFC 7644 does; clients send them in any
// case ("/users" in Microsoft's own tests).
var canonicalEndpoints = map[string]string{
	"users": "Users", "groups": "Groups", "serviceproviderconfig": "ServiceProviderConfig",
	"serviceproviderconfigs": "ServiceProviderConfig", "resourcetypes": "ResourceTypes",
	"schemas": "Schemas", ".search": ".search", "bulk": "Bulk", "me": "Me",
}

// CanonicalPath rewrites /scim/v2/{conn}/{endpoint}[/...] so that the endpoint is spelt
// canonically and a trailing slash is dropped, and answers other paths under /scim with
// a SCIM 404. It is meant as an echo Pre middleware.
func CanonicalPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p := r.URL.Path
		if !strings.HasPrefix(p, Prefix) {
			if p == "/scim" || strings.HasPrefix(p, "/scim/") {
				// Under /scim but outside /scim/v2/{connection}: still a SCIM path,
				// so its 404 is a SCIM error document too.
				return writeError(c, http.StatusNotFound, "", "no such resource or endpoint")
			}
			return next(c)
		}
		rest := strings.TrimSuffix(p[len(Prefix):], "/")
		parts := strings.Split(rest, "/")
		if len(parts) >= 2 {
			if canon, ok := canonicalEndpoints[strings.ToLower(parts[1])]; ok {
				parts[1] = canon
			}
			if len(parts) >= 3 && strings.EqualFold(parts[2], ".search") {
				parts[2] = ".search"
			}
		}
		r.URL.Path = Prefix + strings.Join(parts, "/")
		r.URL.RawPath = ""
		return next(c)
	}
}

// connectionKey is where authenticate keeps the request's connection.
const connectionKey = "scim.connection"

// connection returns the authenticated connection of the request.
func connection(c echo.Context) *orgs.Connection {
	return c.Get(connectionKey).(*orgs.Connection)
}

// ConnectionSlug is the slug of the request's authenticated connection; "" before
// authentication, when it failed, and outside SCIM. Unlike the {connection} URL segment
// it names only connections that exist, so it is a safe label for metrics and logs.
func ConnectionSlug(c echo.Context) string {
	if conn, ok := c.Get(connectionKey).(*orgs.Connection); ok {
		return conn.Slug
	}
	return ""
}

func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get("Authorization")
		scheme, secret, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			secret = ""
		}
		conn, token, err := s.Auth.AuthenticateToken(c.Request().Context(), c.Param("conn"), strings.TrimSpace(secret))
		if err != nil {
			return err
		}
		c.Set(connectionKey, conn)
		// The domain copies the source into the audit event of every change it makes;
		// the request id is the one the response carries, so an IdP's log line and
		// the audit trail name the same request.
		r := c.Request()
		c.SetRequest(r.WithContext(audit.WithSource(orgs.WithRequestConnection(r.Context(), conn), audit.Source{
			Actor:      "token:" + token.ID,
			RequestID:  c.Response().Header().Get(echo.HeaderXRequestID),
			ClientAddr: c.RealIP(),
		})))
		if id := c.Param("id"); id != "" && (!utf8.ValidString(id) || strings.ContainsRune(id, 0)) {
			// No resource has such an id; the database need not be asked.
			return orgscim.Errorf(orgscim.NotFound, "no such resource")
		}
		if conn.Status == orgs.ConnectionPending {
			return s.activateAfter(c, conn, next)
		}
		return next(c)
	}
}

func writeJSON(c echo.Context, code int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentType, ContentType)
	return c.Blob(code, ContentType, buf.Bytes())
}

// readJSON decodes the request body into a generic JSON object, numbers kept exact.
func readJSON(c echo.Context) (map[string]any, error) {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct != "" && !strings.Contains(ct, "json") {
		return nil, orgscim.Errorf(orgscim.InvalidSyntax, "the body must be application/scim+json")
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if bodyTooLarge(err) {
			return nil, orgscim.Errorf(orgscim.TooLarge, "request body is larger than the server accepts")
		}
		return nil, orgscim.Errorf(orgscim.InvalidSyntax, "the body is not valid JSON")
	}
	if dec.More() {
		return nil, orgscim.Errorf(orgscim.InvalidSyntax, "the body holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, orgscim.Errorf(orgscim.InvalidSyntax, "the body must be a JSON object")
	}
	if jsonvalue.HasNUL(m) {
		return nil, orgscim.Errorf(orgscim.InvalidValue, "strings cannot contain the NUL character")
	}
	return m, nil
}

// bodyTooLarge recognises the error of a body cut off by a size limit: echo's BodyLimit
// (which checks only a declared Content-Length up front, so a chunked body fails while
// it is read) or net/http's MaxBytesReader.
func bodyTooLarge(err error) bool {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
		return true
	}
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// location is the absolute URL of a resource of this connection.
func location(c echo.Context, endpoint, id string) string {
	return c.Scheme() + "://" + c.Request().Host + Prefix + connection(c).Slug + endpoint + "/" + id
}
