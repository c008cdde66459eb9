package provisioning

import (
	"context"
	"time"

	"github.com/orgscim/orgscim/audit"
)

// Group is a group of users and groups as the connection's IdP describes it. Attributes
// holds the resource without id, meta and members: members live apart, one row each, so
// that a change to a group of 100,000 members touches only the members it changes.
type Group struct {
	ID           string
	ConnectionID string
	Attributes   map[string]any

	DisplayName string
	ExternalID  string

	Version      int64
	Created      time.Time
	LastModified time.Time
	Deleted      *time.Time
}

// Index copies the indexed attributes out of Attributes.
func (g *Group) Index() {
	g.DisplayName = str(g.Attributes["displayName"])
	g.ExternalID = str(g.Attributes["externalId"])
}

// Member types.
const (
	MemberUser  = "User"
	MemberGroup = "Group"
)

// Member is one member of a group. Type is resolved by the store from the id; Display is
// what the IdP sent, if anything.
type Member struct {
	Value   string
	Type    string
	Display string
}

// ChangeKind says what a MemberChange does.
type ChangeKind int

const (
	AddMembers       ChangeKind = iota + 1 // add these (existing ones are kept, not duplicated)
	RemoveMembers                          // remove exactly these
	RemoveAllMembers                       // remove every member
	ReplaceMembers                         // the members become exactly these
)

// MemberChange is one change to a group's members. A PATCH becomes a list of them,
// applied in order inside one transaction.
type MemberChange struct {
	Kind    ChangeKind
	Members []Member
}

// MembershipChange is one membership that a change to a group added or removed: what
// actually changed, not what was asked (re-adding a member changes nothing).
type MembershipChange struct {
	GroupID    string
	MemberID   string
	MemberType string
	Added      bool // false: removed
}

// GroupRef names a group a user belongs to, directly or through nested groups.
type GroupRef struct {
	ID          string
	DisplayName string
	Direct      bool
}

// GroupPage is one page of a group query with the total number of matches.
type GroupPage struct {
	Total  int
	Groups []*Group
}

// GroupStore keeps groups and their memberships, scoped to one connection like
// UserStore. Members whose id is no live user or group of the connection are ignored,
// so a connection can never reference another's resources. Adding a group as a member
// fails with Invalid when it would make a cycle.
type GroupStore interface {
	CreateGroup(ctx context.Context, conn string, g *Group, members []Member) ([]MembershipChange, error)
	Group(ctx context.Context, conn, id string) (*Group, error)
	// EachMember streams the group's members in a stable order.
	EachMember(ctx context.Context, conn, groupID string, fn func(Member) error) error
	// UpdateGroup runs fn on the locked group and applies the member changes it returns,
	// in the same transaction; it reports the memberships that changed.
	UpdateGroup(ctx context.Context, conn, id string, fn func(*Group) ([]MemberChange, error)) (*Group, []MembershipChange, error)
	Groups(ctx context.Context, conn string, q Query) (GroupPage, error)
	// GroupsOf returns, per user id, the groups the user is in, directly or indirectly.
	GroupsOf(ctx context.Context, conn string, userIDs []string) (map[string][]GroupRef, error)
}

// Transactor runs fn in one transaction that store calls made with its context join.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// MembershipObserver is told, inside the transaction of the change, which memberships
// changed; what it does (grants that follow memberships) commits or fails with it.
type MembershipObserver interface {
	MembershipsChanged(ctx context.Context, conn string, changes []MembershipChange) error
}

// Groups is the provisioning service for groups. Tx, Observer and Audit are optional:
// without them membership changes have no consequences beyond the groups themselves,
// and leave no audit event.
type Groups struct {
	Store    GroupStore
	Tx       Transactor
	Observer MembershipObserver
	Audit    AuditLog
	Now      func() time.Time // nil means time.Now
}

// inTx runs fn in a transaction when the service has a Transactor.
func inTx(ctx context.Context, tx Transactor, fn func(ctx context.Context) error) error {
	if tx == nil {
		return fn(ctx)
	}
	return tx.InTx(ctx, fn)
}

func (s *Groups) observe(ctx context.Context, conn string, changes []MembershipChange) error {
	if s.Observer == nil || len(changes) == 0 {
		return nil
	}
	return s.Observer.MembershipsChanged(ctx, conn, changes)
}

func (s *Groups) now() time.Time {
	// SCIM timestamps carry milliseconds; storing exactly what is shown lets a client
	// filter with meta.lastModified eq the value it read.
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

func validateGroup(g *Group) error {
	if err := checkName("displayName", g.DisplayName); err != nil {
		return err
	}
	return checkIndexed("externalId", g.ExternalID)
}

// Create stores a new group with its members.
func (s *Groups) Create(ctx context.Context, conn string, attrs map[string]any, members []Member) (*Group, error) {
	now := s.now()
	g := &Group{ID: NewID(), ConnectionID: conn, Attributes: attrs, Version: 1, Created: now, LastModified: now}
	g.Index()
	if err := validateGroup(g); err != nil {
		return nil, err
	}
	err := inTx(ctx, s.Tx, func(ctx context.Context) error {
		changes, err := s.Store.CreateGroup(ctx, conn, g, members)
		if err != nil {
			return err
		}
		if err := s.observe(ctx, conn, changes); err != nil {
			return err
		}
		if s.Audit == nil {
			return nil
		}
		// The first members are part of the creation: one event says what the group
		// was born with, rather than a create and a membership change of one request.
		var added []string
		for _, c := range changes {
			added = append(added, c.MemberID)
		}
		return record(ctx, s.Audit, now, ActionGroupCreate, "group", g.ID, conn, "",
			audit.Diff(nil, groupAuditDoc(g.Attributes, added, nil)))
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Get returns a live group, without its members.
func (s *Groups) Get(ctx context.Context, conn, id string) (*Group, error) {
	return s.Store.Group(ctx, conn, id)
}

// Members streams the members of a group.
func (s *Groups) Members(ctx context.Context, conn, id string, fn func(Member) error) error {
	return s.Store.EachMember(ctx, conn, id, fn)
}

// Update changes a group through fn inside the store's transaction; fn edits Attributes
// and returns the member changes to apply with it.
//
// Its audit events say what changed: group.update when the attributes did, and
// group.members when memberships did (both, in the one transaction, when a request did
// both); none when nothing did, as when an IdP re-sends an unchanged group.
func (s *Groups) Update(ctx context.Context, conn, id string, fn func(*Group) ([]MemberChange, error)) (*Group, error) {
	now := s.now()
	var out *Group
	err := inTx(ctx, s.Tx, func(ctx context.Context) error {
		var before map[string]any
		g, changed, err := s.Store.UpdateGroup(ctx, conn, id, func(g *Group) ([]MemberChange, error) {
			if s.Audit != nil {
				before = cloneAttrs(g.Attributes)
			}
			changes, err := fn(g)
			if err != nil {
				return nil, err
			}
			g.Index()
			if err := validateGroup(g); err != nil {
				return nil, err
			}
			g.Version++
			g.LastModified = now
			return changes, nil
		})
		if err != nil {
			return err
		}
		out = g
		if err := s.observe(ctx, conn, changed); err != nil {
			return err
		}
		if s.Audit == nil {
			return nil
		}
		if diff := audit.Diff(before, g.Attributes); !emptyDiff(diff) {
			if err := record(ctx, s.Audit, now, ActionGroupUpdate, "group", id, conn, "", diff); err != nil {
				return err
			}
		}
		if len(changed) == 0 {
			return nil
		}
		return record(ctx, s.Audit, now, ActionGroupMembers, "group", id, conn, "", membersDetail(changed))
	})
	return out, err
}

// Delete removes a group and its memberships, keeping a tombstone of the group.
func (s *Groups) Delete(ctx context.Context, conn, id string, check func(*Group) error) error {
	now := s.now()
	return inTx(ctx, s.Tx, func(ctx context.Context) error {
		g, changed, err := s.Store.UpdateGroup(ctx, conn, id, func(g *Group) ([]MemberChange, error) {
			if check != nil {
				if err := check(g); err != nil {
					return nil, err
				}
			}
			g.Deleted = &now
			g.Version++
			g.LastModified = now
			return []MemberChange{{Kind: RemoveAllMembers}}, nil
		})
		if err != nil {
			return err
		}
		if err := s.observe(ctx, conn, changed); err != nil {
			return err
		}
		if s.Audit == nil {
			return nil
		}
		// The memberships that went with the group are part of its deletion: its own
		// members, and its places in the groups it was a member of.
		var members, memberOf []string
		for _, c := range changed {
			if c.GroupID == id {
				members = append(members, c.MemberID)
			} else {
				memberOf = append(memberOf, c.GroupID)
			}
		}
		return record(ctx, s.Audit, now, ActionGroupDelete, "group", id, conn, "",
			audit.Diff(groupAuditDoc(g.Attributes, members, memberOf), nil))
	})
}

// List returns one page of the groups that match q, without members.
func (s *Groups) List(ctx context.Context, conn string, q Query) (GroupPage, error) {
	return s.Store.Groups(ctx, conn, q)
}

// GroupsOf returns the direct and indirect groups of each user.
func (s *Groups) GroupsOf(ctx context.Context, conn string, userIDs []string) (map[string][]GroupRef, error) {
	return s.Store.GroupsOf(ctx, conn, userIDs)
}
