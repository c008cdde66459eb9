package orgs

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/provisioning"
)

// Org is a node of the organisation tree: the vendor at the root, partners below.
type Org struct {
	ID       string
	Slug     string
	Name     string
	ParentID string // empty for a root
	Status   string // "active" until the relationship model lands
	Created  time.Time
}

// IdP kinds select a connection's compatibility rules.
const (
	IdPEntra   = "entra"
	IdPOkta    = "okta"
	IdPGeneric = "generic"
)

// Connection is one partner IdP's SCIM tenant, bound to the org it provisions into.
type Connection struct {
	ID      string
	Slug    string // the {connection} segment of /scim/v2/{connection}
	OrgID   string
	IdP     string
	Status  string // "active" or "suspended"
	Created time.Time
}

// Store keeps orgs, connections and tokens.
type Store interface {
	CreateOrg(ctx context.Context, o *Org) error
	OrgBySlug(ctx context.Context, slug string) (*Org, error)
	// CreateConnection stores the connection and its first token in one transaction.
	CreateConnection(ctx context.Context, c *Connection, first *Token) error
	ConnectionBySlug(ctx context.Context, slug string) (*Connection, error)
	// AddToken stores t if the connection has fewer than max usable tokens at t.Created.
	AddToken(ctx context.Context, t *Token, max int) error
	Tokens(ctx context.Context, connectionID string) ([]*Token, error)
	RevokeToken(ctx context.Context, connectionID, tokenID string, at time.Time) error
	// TokenByHash returns the token with this hash and its connection.
	TokenByHash(ctx context.Context, hash string) (*Token, *Connection, error)
	TouchToken(ctx context.Context, tokenID string, at time.Time) error
}

// Directory is the service over orgs, connections and tokens.
type Directory struct {
	Store Store
	Now   func() time.Time // nil means time.Now
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Slugify derives a URL-safe slug from a name: lower case, runs of anything else
// collapsed to one hyphen.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimSuffix(b.String(), "-")
	if len(s) > 63 {
		s = strings.TrimSuffix(s[:63], "-")
	}
	return s
}

func checkSlug(slug string) error {
	if !slugPattern.MatchString(slug) {
		return orgscim.Errorf(orgscim.Invalid, "slug %q must be 1-63 lower-case letters, digits or hyphens, starting with a letter or digit", slug)
	}
	return nil
}

// CreateOrg creates an org under parentSlug (empty for a root). An empty slug is
// derived from the name.
func (d *Directory) CreateOrg(ctx context.Context, name, slug, parentSlug string) (*Org, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, orgscim.Errorf(orgscim.Invalid, "an org needs a name")
	}
	if slug == "" {
		slug = Slugify(name)
	}
	if err := checkSlug(slug); err != nil {
		return nil, err
	}
	o := &Org{ID: provisioning.NewID(), Slug: slug, Name: name, Status: "active", Created: d.now()}
	if parentSlug != "" {
		p, err := d.Store.OrgBySlug(ctx, parentSlug)
		if err != nil {
			return nil, err
		}
		o.ParentID = p.ID
	}
	if err := d.Store.CreateOrg(ctx, o); err != nil {
		return nil, err
	}
	return o, nil
}

// CreateConnection creates a connection bound to the org and issues its first token.
// It returns the token's secret, which is shown once and stored only as a hash.
func (d *Directory) CreateConnection(ctx context.Context, orgSlug, slug, idp string) (*Connection, string, error) {
	org, err := d.Store.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, "", err
	}
	if idp == "" {
		idp = IdPGeneric
	}
	switch idp {
	case IdPEntra, IdPOkta, IdPGeneric:
	default:
		return nil, "", orgscim.Errorf(orgscim.Invalid, "idp must be entra, okta or generic, not %q", idp)
	}
	if slug == "" {
		slug = org.Slug
	}
	if err := checkSlug(slug); err != nil {
		return nil, "", err
	}
	now := d.now()
	c := &Connection{ID: provisioning.NewID(), Slug: slug, OrgID: org.ID, IdP: idp, Status: "active", Created: now}
	secret, tok := newToken(c.ID, now, nil)
	if err := d.Store.CreateConnection(ctx, c, tok); err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// Connection returns the connection with this slug.
func (d *Directory) Connection(ctx context.Context, slug string) (*Connection, error) {
	return d.Store.ConnectionBySlug(ctx, slug)
}
