package orgs

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/provisioning"
)

// Kind is an org's place in the tree.
type Kind string

const (
	KindVendor       Kind = "vendor"
	KindPartner      Kind = "partner"
	KindSubsidiary   Kind = "subsidiary"
	KindBusinessUnit Kind = "business_unit"
)

// Status is the state of the business relationship with an org.
type Status string

const (
	StatusPending   Status = "pending"
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusEnded     Status = "ended"
)

// Brand is how an org presents itself. It is presentation only: policy, audit and
// lifecycle never look at it.
type Brand struct {
	DisplayName  string
	LogoURL      string
	PrimaryColor string
	AccentColor  string
}

// Org is a node of the organisation tree: the vendor at the root, partners below them,
// their subsidiaries and business units below those.
type Org struct {
	ID       string
	Slug     string
	Name     string
	ParentID string // empty for a root
	// Path lists the ids from the root down to this org, as "/root/.../id/": a subtree
	// is every org whose path starts with this one's.
	Path          string
	Kind          Kind
	Status        Status
	ContractStart *time.Time
	ContractEnd   *time.Time
	Grace         time.Duration // access continues this long after ContractEnd
	Owner         string        // the accountable owner, e.g. an e-mail address
	Brand         Brand
	Version       int64
	Created       time.Time
	Updated       time.Time
}

// GrantsAccessAt reports whether the relationship with the org alone allows access at
// t: active, and inside its contract plus grace. Ancestors are checked separately.
func (o *Org) GrantsAccessAt(t time.Time) bool {
	if o.Status != StatusActive {
		return false
	}
	if o.ContractStart != nil && t.Before(*o.ContractStart) {
		return false
	}
	if o.ContractEnd != nil && !t.Before(o.ContractEnd.Add(o.Grace)) {
		return false
	}
	return true
}

// AncestorIDs returns the ids on the org's path, root first, the org itself last.
func (o *Org) AncestorIDs() []string { return pathIDs(o.Path) }

// Contains reports whether other is o or inside o's subtree.
func (o *Org) Contains(other *Org) bool {
	return strings.HasPrefix(other.Path, o.Path)
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
	// OrgPath is the path of OrgID, when the connection was loaded to authenticate:
	// whether its tokens work depends on every org on it.
	OrgPath string
	// Placement puts the connection's users into sub-orgs; the first rule that matches
	// wins, and a user no rule matches belongs to OrgID.
	Placement []PlacementRule
}

// PlacementRule places a user in OrgID when the attribute at Attribute (a SCIM path
// such as "title" or "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
// equals Value, ignoring case, or when the user is in the group GroupID (directly or
// through nested groups). Exactly one of Attribute and GroupID is set.
type PlacementRule struct {
	Attribute string `json:"attribute,omitempty"`
	Value     string `json:"value,omitempty"`
	GroupID   string `json:"group_id,omitempty"`
	OrgID     string `json:"org_id"`
}

// Store keeps orgs, connections and tokens.
type Store interface {
	// CreateOrg stores o under o.ParentID and sets its Path.
	CreateOrg(ctx context.Context, o *Org) error
	OrgBySlug(ctx context.Context, slug string) (*Org, error)
	OrgByID(ctx context.Context, id string) (*Org, error)
	// UpdateOrg runs fn on the locked org and stores the result.
	UpdateOrg(ctx context.Context, id string, fn func(*Org) error) (*Org, error)
	// MoveOrg re-parents the org and rewrites the paths of its subtree.
	MoveOrg(ctx context.Context, id, newParentID string, at time.Time) error
	// CreateConnection stores the connection and its first token in one transaction.
	CreateConnection(ctx context.Context, c *Connection, first *Token) error
	ConnectionBySlug(ctx context.Context, slug string) (*Connection, error)
	// AddToken stores t if the connection has fewer than max usable tokens at t.Created.
	AddToken(ctx context.Context, t *Token, max int) error
	Tokens(ctx context.Context, connectionID string) ([]*Token, error)
	RevokeToken(ctx context.Context, connectionID, tokenID string, at time.Time) error
	// TokenByHash returns the token with this hash, its connection and the orgs on the
	// connection's org path that exist, by id: what authenticating a request needs, in
	// one round trip.
	TokenByHash(ctx context.Context, hash string) (*Token, *Connection, map[string]*Org, error)
	// OrgsByID returns the orgs with these ids that exist.
	OrgsByID(ctx context.Context, ids []string) (map[string]*Org, error)
	TouchToken(ctx context.Context, tokenID string, at time.Time) error
	SetPlacement(ctx context.Context, connectionID string, rules []PlacementRule) error
}

// Directory is the service over orgs, connections and tokens.
type Directory struct {
	Store Store
	Tx    provisioning.Transactor // optional: a change commits with its audit event
	Audit AuditLog                // optional
	// Revalidate opens, in the change's transaction, the campaign a business event
	// calls for (reviews.Service does): a move, a new contract, a new accountable owner,
	// and returns its id. Nil opens none.
	Revalidate interface {
		Revalidate(ctx context.Context, org *Org, why string) (reviewID string, err error)
	}
	// ActivationGate, when set, keeps a pending connection pending while it says no
	// (domains.Service: until the org has verified an e-mail domain, where the
	// connection's policy requires one). Nil lets the first change activate.
	ActivationGate interface {
		MayActivate(ctx context.Context, conn *Connection) error
	}
	Now func() time.Time // nil means time.Now
}

// revalidate opens the campaign of a business event on org's subtree, if wired.
func (d *Directory) revalidate(ctx context.Context, org *Org, why string) error {
	if d.Revalidate == nil {
		return nil
	}
	_, err := d.Revalidate.Revalidate(ctx, org, why)
	return err
}

// AuditLog records the audit event of a change; in the change's transaction when the
// context carries one.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Directory) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return InTx(ctx, d.Tx, fn)
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

// CheckSlug refuses what cannot be an org or connection slug in a URL.
func CheckSlug(slug string) error {
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
	if err := CheckSlug(slug); err != nil {
		return nil, err
	}
	now := d.now()
	o := &Org{ID: provisioning.NewID(), Slug: slug, Name: name, Kind: KindVendor, Status: StatusActive,
		Version: 1, Created: now, Updated: now}
	err := d.inTx(ctx, func(ctx context.Context) error {
		if parentSlug != "" {
			p, err := d.Store.OrgBySlug(ctx, parentSlug)
			if err != nil {
				return err
			}
			o.ParentID = p.ID
			o.Kind = KindUnder(p)
		}
		return d.StoreOrg(ctx, o, now)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// KindUnder is the kind of an org created under parent: a vendor's child is a partner,
// anyone else's a subsidiary.
func KindUnder(parent *Org) Kind {
	if parent.Kind == KindVendor {
		return KindPartner
	}
	return KindSubsidiary
}

// StoreOrg stores the org and records its creation, in the caller's transaction.
func (d *Directory) StoreOrg(ctx context.Context, o *Org, now time.Time) error {
	if err := d.Store.CreateOrg(ctx, o); err != nil {
		return err
	}
	e := audit.New(ctx, now, ActOrgCreate, "org", o.ID)
	e.OrgID, e.Diff = o.ID, audit.Diff(nil, viewOrg(o))
	return Record(ctx, d.Audit, e)
}

// OrgUpdate is a change to an org's relationship, contract, owner or brand. Nil fields
// stay as they are.
type OrgUpdate struct {
	Name          *string
	Kind          *Kind
	Status        *Status
	ContractStart **time.Time
	ContractEnd   **time.Time
	Grace         *time.Duration
	Owner         *string
	Brand         *Brand
}

// UpdateOrg applies u to the org with this slug.
func (d *Directory) UpdateOrg(ctx context.Context, slug string, u OrgUpdate) (*Org, error) {
	var out *Org
	err := d.inTx(ctx, func(ctx context.Context) error {
		o, err := d.Store.OrgBySlug(ctx, slug)
		if err != nil {
			return err
		}
		now := d.now()
		var before orgView
		if out, err = d.Store.UpdateOrg(ctx, o.ID, func(o *Org) error {
			before = viewOrg(o)
			return u.apply(o, now)
		}); err != nil {
			return err
		}
		e := audit.New(ctx, now, ActOrgUpdate, "org", out.ID)
		e.OrgID, e.Diff = out.ID, audit.Diff(before, viewOrg(out))
		if err := Record(ctx, d.Audit, e); err != nil {
			return err
		}
		// A renewed or changed contract, or a new accountable owner, is a business
		// event: whoever answers for the subtree now confirms who keeps access.
		after := viewOrg(out)
		switch {
		case !sameTime(before.ContractStart, after.ContractStart) || !sameTime(before.ContractEnd, after.ContractEnd) ||
			before.GraceSeconds != after.GraceSeconds:
			return d.revalidate(ctx, out, "the contract of org "+out.Slug+" changed")
		case before.Owner != after.Owner:
			return d.revalidate(ctx, out, "the accountable owner of org "+out.Slug+" changed")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// apply changes o as u says, or says why it cannot.
func (u OrgUpdate) apply(o *Org, now time.Time) error {
	if u.Name != nil {
		if strings.TrimSpace(*u.Name) == "" {
			return orgscim.Errorf(orgscim.Invalid, "an org needs a name")
		}
		o.Name = strings.TrimSpace(*u.Name)
	}
	if u.Kind != nil {
		switch *u.Kind {
		case KindVendor, KindPartner, KindSubsidiary, KindBusinessUnit:
		default:
			return orgscim.Errorf(orgscim.Invalid, "kind must be vendor, partner, subsidiary or business_unit")
		}
		o.Kind = *u.Kind
	}
	if u.Status != nil {
		switch *u.Status {
		case StatusPending, StatusActive, StatusSuspended, StatusEnded:
		default:
			return orgscim.Errorf(orgscim.Invalid, "status must be pending, active, suspended or ended")
		}
		o.Status = *u.Status
	}
	if u.ContractStart != nil {
		o.ContractStart = *u.ContractStart
	}
	if u.ContractEnd != nil {
		o.ContractEnd = *u.ContractEnd
	}
	if err := CheckContract(o.ContractStart, o.ContractEnd); err != nil {
		return err
	}
	if u.Grace != nil {
		if *u.Grace < 0 {
			return orgscim.Errorf(orgscim.Invalid, "the grace period cannot be negative")
		}
		o.Grace = *u.Grace
	}
	if u.Owner != nil {
		o.Owner = *u.Owner
	}
	if u.Brand != nil {
		o.Brand = *u.Brand
	}
	o.Version++
	o.Updated = now
	return nil
}

// CheckContract refuses a contract that ends before it starts.
func CheckContract(start, end *time.Time) error {
	if start != nil && end != nil && end.Before(*start) {
		return orgscim.Errorf(orgscim.Invalid, "the contract cannot end before it starts")
	}
	return nil
}

// MoveOrg re-parents the org under newParentSlug. An org cannot move into its own
// subtree, and a root stays a root.
func (d *Directory) MoveOrg(ctx context.Context, slug, newParentSlug string) error {
	return d.inTx(ctx, func(ctx context.Context) error {
		o, err := d.Store.OrgBySlug(ctx, slug)
		if err != nil {
			return err
		}
		p, err := d.Store.OrgBySlug(ctx, newParentSlug)
		if err != nil {
			return err
		}
		if o.ParentID == "" {
			return orgscim.Errorf(orgscim.Invalid, "the root org cannot move")
		}
		if o.Contains(p) {
			return orgscim.Errorf(orgscim.Invalid, "org %q cannot move into its own subtree", slug)
		}
		now := d.now()
		if err := d.Store.MoveOrg(ctx, o.ID, p.ID, now); err != nil {
			return err
		}
		// The path is the store's to compute; read back what it wrote.
		moved, err := d.Store.OrgByID(ctx, o.ID)
		if err != nil {
			return err
		}
		type place struct {
			ParentID string `json:"parent_id"`
			Path     string `json:"path"`
		}
		e := audit.New(ctx, now, ActOrgMove, "org", o.ID)
		e.OrgID, e.Diff = o.ID, audit.Diff(place{o.ParentID, o.Path}, place{moved.ParentID, moved.Path})
		if err := Record(ctx, d.Audit, e); err != nil {
			return err
		}
		// Rights whose source no longer covers the moved subtree stopped with this
		// commit (the authority rule); the new parent's administrators confirm the rest.
		return d.revalidate(ctx, moved, "org "+moved.Slug+" moved under "+p.Slug)
	})
}

// CreateConnection creates a connection bound to the org and issues its first token.
// It returns the token's secret, which is shown once and stored only as a hash.
func (d *Directory) CreateConnection(ctx context.Context, orgSlug, slug, idp string) (*Connection, string, error) {
	org, err := d.Store.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return nil, "", err
	}
	idp, err = CheckIdP(idp)
	if err != nil {
		return nil, "", err
	}
	if slug == "" {
		slug = org.Slug
	}
	if err := CheckSlug(slug); err != nil {
		return nil, "", err
	}
	now := d.now()
	c := &Connection{ID: provisioning.NewID(), Slug: slug, OrgID: org.ID, IdP: idp, Status: "active", Created: now}
	secret, tok := NewToken(c.ID, now, nil)
	err = d.inTx(ctx, func(ctx context.Context) error {
		return d.StoreConnection(ctx, c, tok, now)
	})
	if err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// CheckIdP returns the IdP kind, generic when it is empty, or refuses an unknown one.
func CheckIdP(idp string) (string, error) {
	switch idp {
	case "":
		return IdPGeneric, nil
	case IdPEntra, IdPOkta, IdPGeneric:
		return idp, nil
	}
	return "", orgscim.Errorf(orgscim.Invalid, "idp must be entra, okta or generic, not %q", idp)
}

// StoreConnection stores the connection with its first token, if any, and records
// their creation, in the caller's transaction: the connection's chain starts with its
// creation and its first token.
func (d *Directory) StoreConnection(ctx context.Context, c *Connection, tok *Token, now time.Time) error {
	if err := d.Store.CreateConnection(ctx, c, tok); err != nil {
		return err
	}
	e := audit.New(ctx, now, ActConnectionCreate, "connection", c.ID)
	e.ConnectionID, e.OrgID = c.ID, c.OrgID
	e.Diff = audit.Diff(nil, connectionView{Slug: c.Slug, OrgID: c.OrgID, IdP: c.IdP, Status: c.Status})
	if err := Record(ctx, d.Audit, e); err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	return d.RecordToken(ctx, ActTokenCreate, tok, now)
}

// SetPlacement replaces the connection's placement rules. Every rule's org must lie in
// the connection's subtree. Users are re-placed when the IdP next changes them.
func (d *Directory) SetPlacement(ctx context.Context, connSlug string, rules []PlacementRule) error {
	return d.inTx(ctx, func(ctx context.Context) error {
		c, err := d.Store.ConnectionBySlug(ctx, connSlug)
		if err != nil {
			return err
		}
		if err := d.checkPlacement(ctx, c, rules); err != nil {
			return err
		}
		if err := d.Store.SetPlacement(ctx, c.ID, rules); err != nil {
			return err
		}
		e := audit.New(ctx, d.now(), ActPlacementUpdate, "connection", c.ID)
		e.ConnectionID = c.ID
		e.Diff = audit.Diff(placementView{c.Placement}, placementView{rules})
		return Record(ctx, d.Audit, e)
	})
}

// checkPlacement refuses rules that are incomplete or place users outside the
// connection's subtree.
func (d *Directory) checkPlacement(ctx context.Context, c *Connection, rules []PlacementRule) error {
	home, err := d.Store.OrgByID(ctx, c.OrgID)
	if err != nil {
		return err
	}
	for i, r := range rules {
		if (r.Attribute == "") == (r.GroupID == "") {
			return orgscim.Errorf(orgscim.Invalid, "placement rule %d needs either an attribute and value, or a group", i)
		}
		if r.Attribute != "" && r.Value == "" {
			return orgscim.Errorf(orgscim.Invalid, "placement rule %d needs a value to compare %s with", i, r.Attribute)
		}
		o, err := d.Store.OrgByID(ctx, r.OrgID)
		if err != nil {
			return err
		}
		if !home.Contains(o) {
			return orgscim.Errorf(orgscim.Forbidden, "placement rule %d: org %s is outside the connection's subtree", i, o.Slug)
		}
	}
	return nil
}

// Connection returns the connection with this slug.
func (d *Directory) Connection(ctx context.Context, slug string) (*Connection, error) {
	return d.Store.ConnectionBySlug(ctx, slug)
}

func sameTime(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}
