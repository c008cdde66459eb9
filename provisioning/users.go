package provisioning

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"golang.org/x/crypto/bcrypt"
)

// UserStore keeps users. Every method is scoped to one connection; a user of another
// connection does not exist for it. Implementations run UpdateUser's and
// RestoreUser's fn inside one transaction with the row locked, so a read-modify-write
// through them cannot lose a concurrent update.
type UserStore interface {
	CreateUser(ctx context.Context, conn string, u *User) error
	User(ctx context.Context, conn, id string) (*User, error)
	UpdateUser(ctx context.Context, conn, id string, fn func(*User) error) (*User, error)
	// RestoreUser runs fn on the tombstone with this externalId, if any, and stores
	// the result; it returns a NotFound error when there is none.
	RestoreUser(ctx context.Context, conn, externalID string, fn func(*User) error) (*User, error)
	Users(ctx context.Context, conn string, q Query) (UserPage, error)
}

// UserObserver is told, inside the transaction of the change, how a user changed (before
// is nil for a new user); what it does (grants that follow a user's status) commits or
// fails with it.
type UserObserver interface {
	UserChanged(ctx context.Context, conn string, before, after *User) error
}

// AuditLog records the audit event of a change; in the change's transaction when the
// context carries one.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
}

// FreshCheck names what a creation looks for before it inserts a new user: a tombstone
// with the externalId to restore, and an imported, unclaimed user with the externalId
// or the folded e-mail to adopt (an empty value looks for nothing).
type FreshCheck struct {
	Tombstone        string
	ImportExternalID string
	ImportEmailKey   string
}

// freshCreator is a UserStore that inserts a new user only when nothing FreshCheck
// names exists, in one statement (sqlstore does): the usual creation then needs no
// lookup before its insert. When it reports created false, the creation looks and
// restores or adopts as usual.
type freshCreator interface {
	CreateFreshUser(ctx context.Context, conn string, u *User, check FreshCheck) (created bool, err error)
}

// Users is the provisioning service for users. Tx, Observer and Audit are optional.
type Users struct {
	Store    UserStore
	Tx       Transactor
	Observer UserObserver
	Audit    AuditLog
	Now      func() time.Time // nil means time.Now
	// Links, when set, lets a creation adopt a user that a spreadsheet import made
	// (see adoptable) instead of creating a duplicate.
	Links ImportLinks
	// Domains, when set, refuses users in domains the connection may not provision
	// and keeps links by e-mail to verified domains.
	Domains DomainRule
	// Quarantine, when set with Domains, keeps the users a connection's domain policy
	// quarantines; without it such users are refused.
	Quarantine QuarantineStore
}

// update runs a store update, tells the observer and records the audit event of
// action, in one transaction. An update that changes neither the attributes, nor
// active, nor the password records nothing: IdPs re-send unchanged users on every sync,
// and a trail of non-changes would bury the changes.
func (s *Users) update(ctx context.Context, conn, action string, now time.Time, call func(ctx context.Context, fn func(*User) error) (*User, error), fn func(*User) error) (*User, error) {
	var out *User
	err := inTx(ctx, s.Tx, func(ctx context.Context) error {
		var before User
		u, err := call(ctx, func(u *User) error {
			before = *u
			if s.Audit != nil {
				before.Attributes = cloneAttrs(u.Attributes)
			}
			return fn(u)
		})
		if err != nil {
			return err
		}
		out = u
		if s.Observer != nil {
			if err := s.Observer.UserChanged(ctx, conn, &before, u); err != nil {
				return err
			}
		}
		if s.Audit == nil {
			return nil
		}
		after := u
		if action == ActionUserDelete {
			after = nil // a deletion diffs to nothing, as audit.Diff expects
		}
		diff := userDiff(&before, after)
		if action == ActionUserUpdate && emptyDiff(diff) {
			return nil
		}
		// After the observer, which may have placed the user in another org.
		return record(ctx, s.Audit, now, action, "user", u.ID, conn, u.OrgID, diff)
	})
	return out, err
}

func (s *Users) now() time.Time {
	// SCIM timestamps carry milliseconds; storing exactly what is shown lets a client
	// filter with meta.lastModified eq the value it read.
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// Create stores a new user. When the connection deleted a user with the same
// externalId before, that user is restored under its old id instead: Okta and Entra
// re-create a user this way after an unassign and reassign, and downstream grants and
// audit keep referring to one identity.
func (s *Users) Create(ctx context.Context, conn string, attrs map[string]any, password string) (*User, error) {
	now := s.now()
	u := &User{ConnectionID: conn, Attributes: attrs}
	u.Index()
	if err := validate(u); err != nil {
		return nil, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return nil, err
	}
	// The restore and the insert share one transaction: one commit per create, and no
	// window in which a concurrent delete could make the two disagree.
	var out *User
	err = inTx(ctx, s.Tx, func(ctx context.Context) error {
		v, err := s.admit(ctx, conn, u, true)
		if err != nil {
			return err
		}
		if fc, ok := s.Store.(freshCreator); ok {
			// Looks for at least what adoptable and the restore below look for, so
			// that a user one of them would find is never created beside it.
			var check FreshCheck
			check.Tombstone = u.ExternalID
			if s.Links != nil {
				check.ImportExternalID = u.ExternalID
				if u.Email != "" {
					check.ImportEmailKey = FoldKey(u.Email)
				}
			}
			u.ID = NewID()
			u.PasswordHash = hash
			u.Version = 1
			u.Created, u.LastModified = now, now
			created, err := fc.CreateFreshUser(ctx, conn, u, check)
			if err != nil {
				return err
			}
			if created {
				out = u
				return s.created(ctx, conn, u, v, now)
			}
		}
		if imported, err := s.adoptable(ctx, conn, u, v); err != nil || imported != nil {
			if err == nil {
				out, err = s.adopt(ctx, conn, imported.ID, attrs, hash, now, v)
			}
			if err == nil {
				err = s.settle(ctx, conn, out, v, now)
			}
			return err
		}
		if u.ExternalID != "" {
			restore := func(ctx context.Context, fn func(*User) error) (*User, error) {
				return s.Store.RestoreUser(ctx, conn, u.ExternalID, fn)
			}
			restored, err := s.update(ctx, conn, ActionUserRestore, now, restore, func(old *User) error {
				old.Attributes = attrs
				old.Index()
				if v.hold != "" {
					old.Active = false
				}
				old.PasswordHash = hash
				old.Deleted = nil
				old.Version++
				old.LastModified = now
				return nil
			})
			if err == nil {
				out = restored
				return s.settle(ctx, conn, out, v, now)
			}
			if orgscim.ErrorCode(err) != orgscim.NotFound {
				return err
			}
		}
		u.ID = NewID()
		u.PasswordHash = hash
		u.Version = 1
		u.Created, u.LastModified = now, now
		if err := s.Store.CreateUser(ctx, conn, u); err != nil {
			return err
		}
		out = u
		return s.created(ctx, conn, u, v, now)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// created carries out what follows the insert of a new user, in its transaction: the
// observer, the audit event and the quarantine verdict.
func (s *Users) created(ctx context.Context, conn string, u *User, v verdict, now time.Time) error {
	if s.Observer != nil {
		if err := s.Observer.UserChanged(ctx, conn, nil, u); err != nil {
			return err
		}
	}
	if s.Audit != nil {
		if err := record(ctx, s.Audit, now, ActionUserCreate, "user", u.ID, conn, u.OrgID, userDiff(nil, u)); err != nil {
			return err
		}
	}
	if v.hold == "" {
		return nil // a new id has no quarantine record to clear: no read on every create
	}
	return s.settle(ctx, conn, u, v, now)
}

// Get returns a live user.
func (s *Users) Get(ctx context.Context, conn, id string) (*User, error) {
	return s.Store.User(ctx, conn, id)
}

// Update changes a user through fn, inside the store's transaction. fn receives the
// current state and edits Attributes (and may set a new password with SetPassword);
// Update then re-derives the indexed fields, validates and bumps the version. If fn
// returns an error nothing is stored.
func (s *Users) Update(ctx context.Context, conn, id string, fn func(*User) error) (*User, error) {
	now := s.now()
	var out *User
	// The transaction is opened here, not in update: updateAttributes' closure runs the
	// domain rule and the quarantine record with the context it was given, which must
	// be the transaction's.
	err := inTx(ctx, s.Tx, func(ctx context.Context) error {
		u, err := s.updateAttributes(ctx, conn, id, now, fn)
		if err != nil {
			return err
		}
		out = u
		if s.Links == nil {
			return nil
		}
		return s.claimByUpdate(ctx, conn, u, now)
	})
	return out, err
}

func (s *Users) updateAttributes(ctx context.Context, conn, id string, now time.Time, fn func(*User) error) (*User, error) {
	return s.update(ctx, conn, ActionUserUpdate, now, s.call(conn, id), func(u *User) error {
		if err := fn(u); err != nil {
			return err
		}
		u.Index()
		if err := validate(u); err != nil {
			return err
		}
		v, err := s.admit(ctx, conn, u, false)
		if err != nil {
			return err
		}
		if err := s.settle(ctx, conn, u, v, now); err != nil {
			return err
		}
		u.Version++
		u.LastModified = now
		return nil
	})
}

// call binds UserStore.UpdateUser to one user, for update.
func (s *Users) call(conn, id string) func(ctx context.Context, fn func(*User) error) (*User, error) {
	return func(ctx context.Context, fn func(*User) error) (*User, error) {
		return s.Store.UpdateUser(ctx, conn, id, fn)
	}
}

// SetPassword replaces the user's password hash. An empty password leaves it as it is.
func (u *User) SetPassword(password string) error {
	if password == "" {
		return nil
	}
	h, err := hashPassword(password)
	if err != nil {
		return err
	}
	u.PasswordHash = h
	return nil
}

// Delete removes a user from SCIM, keeping a tombstone. check, if not nil, runs on the
// current state inside the transaction (for If-Match); its error cancels the delete.
func (s *Users) Delete(ctx context.Context, conn, id string, check func(*User) error) error {
	now := s.now()
	_, err := s.update(ctx, conn, ActionUserDelete, now, s.call(conn, id), func(u *User) error {
		if check != nil {
			if err := check(u); err != nil {
				return err
			}
		}
		u.Deleted = &now
		u.Version++
		u.LastModified = now
		return nil
	})
	return err
}

// List returns one page of the users that match q.
func (s *Users) List(ctx context.Context, conn string, q Query) (UserPage, error) {
	return s.Store.Users(ctx, conn, q)
}

// validate checks what the store cannot check alike on both engines: the presence of
// userName and the lengths of the indexed values (see MaxIndexedBytes).
func validate(u *User) error {
	if err := checkName("userName", u.UserName); err != nil {
		return err
	}
	for _, f := range []struct{ attr, v string }{
		{"externalId", u.ExternalID}, {"displayName", u.DisplayName},
		{"name.givenName", u.GivenName}, {"name.familyName", u.FamilyName},
	} {
		if err := checkIndexed(f.attr, f.v); err != nil {
			return err
		}
	}
	// Every e-mail, not only the indexed one: which one is indexed changes with primary.
	emails, _ := u.Attributes["emails"].([]any)
	for _, e := range emails {
		m, _ := e.(map[string]any)
		if err := checkIndexed("emails.value", str(m["value"])); err != nil {
			return err
		}
	}
	return nil
}

func hashPassword(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if len(p) > 72 {
		return "", orgscim.Errorf(orgscim.InvalidValue, "password is longer than 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// NewID returns a random RFC 4122 version 4 UUID: ids are opaque and unguessable, so
// that one tenant cannot probe another's.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
