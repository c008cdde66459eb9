package ssf

import (
	"encoding/json"
	"strings"

	"github.com/orgscim/orgscim/audit"
)

// Event types a stream may request. CAEP and RISC are the OpenID profiles of SSF; the
// two urn:orgscim types say what neither profile names: a grant taken away, and an org's
// business relationship ended or suspended (every grant on it stops holding at once).
const (
	SessionRevoked      = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	CredentialChange    = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	AccountDisabled     = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	AccountEnabled      = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
	AccountPurged       = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	IdentifierChanged   = "https://schemas.openid.net/secevent/risc/event-type/identifier-changed"
	GrantRevoked        = "urn:orgscim:secevent:event-type:grant-revoked"
	RelationshipEnded   = "urn:orgscim:secevent:event-type:relationship-ended"
	Verification        = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	StreamUpdated       = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
	defaultInitiatorEnt = "admin"
)

// Supported is every event type a stream may request, in the order the configuration
// lists them. Neither verification nor stream-updated is requested: a verification SET
// is sent when the receiver asks for one, and a stream-updated SET when the transmitter
// stops a push stream (its receiver revoked; Streams.RevokeReceiver).
var Supported = []string{SessionRevoked, CredentialChange, AccountDisabled, AccountEnabled, AccountPurged,
	IdentifierChanged, GrantRevoked, RelationshipEnded}

// Subject is a subject identifier (RFC 9493): its format and that format's members.
type Subject map[string]any

// Key is the canonical form a removed subject is matched by: "email:<lower-case
// address>", "opaque:<id>", or, for a complex subject, the key of its user (else its
// tenant). "" for a subject orgscim never sends.
func (s Subject) Key() string {
	str := func(k string) string { v, _ := s[k].(string); return v }
	switch str("format") {
	case "email":
		if e := str("email"); e != "" {
			return "email:" + strings.ToLower(e)
		}
	case "opaque":
		if id := str("id"); id != "" {
			return "opaque:" + id
		}
	case "complex":
		for _, part := range []string{"user", "tenant"} {
			if m, ok := s[part].(map[string]any); ok {
				if k := Subject(m).Key(); k != "" {
					return k
				}
			}
		}
	}
	return ""
}

// Facts is what the store knows about an event's user and tenant at the moment the
// event is written, beyond the audit event itself.
type Facts struct {
	// UserID is the SCIM id of the event's user, or the id of the service account it is
	// about ("" when it has none).
	UserID   string
	UserName string
	Email    string // the user's primary e-mail ("" when none)
	// ServiceAccount is the name of the service account UserID names ("" for a person).
	ServiceAccount string
	ConnectionSlug string // the tenant: a person's connection, a service account owner's
	OrgSlug        string
	// Revoked are the grants a bulk revocation (grants.revoke, grants.sync) names
	// (GrantsOf), as the store found them; each holder's ConnectionSlug is the event's.
	Revoked []RevokedGrant
}

// RevokedGrant is one grant of a bulk revocation event: its role, its org's slug, why it
// was revoked, and who held it.
type RevokedGrant struct {
	ID, RoleID, OrgSlug, Reason string
	Holder                      Facts
}

// SET is one Security Event Token to queue: its type, its subject and the claims of its
// payload except iss and aud (added when signed, per stream). Keys are the subject keys a
// stream's removed subjects are matched against.
type SET struct {
	Suffix string // makes the jti unique among the SETs of one audit event
	// Subject names who the SET is about, stably across renames ("user:<SCIM id>",
	// "org:<slug>"): a stream delivers the SETs of one subject in order.
	Subject string
	Type    string
	Claims  map[string]any
	Keys    []string
}

// Emits reports whether an audit action can give SETs, so that the store looks up
// Facts only for those.
func Emits(action string) bool {
	switch action {
	case "user.update", "user.delete", "grant.revoke", "grants.revoke", "grants.sync", "org.update",
		"service_account.orphan", "service_account.adopt", "service_account.reassign", "service_account.retire":
		return true
	}
	return false
}

// UserOf is the SCIM id of the user an event is about, or the id of its service
// account, to look up Facts of ("" none).
func UserOf(e *audit.Event) string {
	switch e.Action {
	case "user.update", "user.delete", "service_account.orphan", "service_account.adopt", "service_account.reassign",
		"service_account.retire":
		return e.TargetID
	case "grant.revoke":
		var d struct {
			UserID string `json:"user_id"`
		}
		_ = json.Unmarshal(e.Diff, &d)
		return d.UserID
	}
	return ""
}

// GrantsOf is the ids of the grants a bulk revocation event revoked, to look up
// Facts.Revoked of: every one of them, for both kinds name them all — grants.revoke
// (orgs.RecordRevocations: a review's deadline, the reconciler) in ids, grants.sync
// (a mapping retired, a delegation revoked with what was made under it, a user
// deactivated or deleted, a member leaving a mapped group, drift repaired) in
// revoked_grant_ids.
func GrantsOf(e *audit.Event) []string {
	var d struct {
		IDs        []string `json:"ids"`
		RevokedIDs []string `json:"revoked_grant_ids"`
	}
	switch e.Action {
	case "grants.revoke":
		_ = json.Unmarshal(e.Diff, &d)
		return d.IDs
	case "grants.sync":
		_ = json.Unmarshal(e.Diff, &d)
		return d.RevokedIDs
	}
	return nil
}

type change struct {
	Before any `json:"before"`
	After  any `json:"after"`
}

// SETs maps a committed audit event to the SETs it gives, in the order a receiver should
// apply them:
//
//   - a user deactivated (SCIM active → false): RISC account-disabled, then CAEP
//     session-revoked;
//   - reactivated: RISC account-enabled;
//   - userName changed: RISC identifier-changed, about the old identifier, new-value the
//     new one;
//   - a password set or replaced by the IdP: CAEP credential-change;
//   - deleted: CAEP session-revoked, then RISC account-purged;
//   - a grant revoked, by hand or a reviewer (grant.revoke) or together with others by
//     a review's deadline or the reconciler (grants.revoke), or by a mapping retired, a
//     delegation revoked, its holder deactivated or deleted, or leaving a mapped group
//     (grants.sync; a SET for each grant): urn:orgscim grant-revoked;
//   - an org's relationship ended or suspended: urn:orgscim relationship-ended;
//   - a service account orphaned (its owner gone: it holds nothing until reassigned):
//     RISC account-disabled; adopted again or reassigned out of it: RISC
//     account-enabled; retired, with its grants and tokens: CAEP session-revoked, then
//     RISC account-purged (after the grant-revoked of each grant, from the grants.sync
//     the retirement records first).
//
// A user's subject is complex: user (email when the user has one, else the opaque SCIM
// id) and tenant (the connection's slug). A service account's is complex too: user is
// always opaque, its id, and tenant its owner's connection; the event names the account
// (service_account: its name), so that a receiver never takes it for a person.
func SETs(e *audit.Event, f Facts) []SET {
	var diff map[string]change
	_ = json.Unmarshal(e.Diff, &diff)
	iat := e.Time.Unix()
	initiator := defaultInitiatorEnt
	if strings.HasPrefix(e.Actor, "system:") {
		initiator = "system"
	}
	user := func(email, userName string) Subject {
		u := Subject{"format": "opaque", "id": f.UserID}
		switch {
		case email != "":
			u = Subject{"format": "email", "email": email}
		case strings.Contains(userName, "@"):
			u = Subject{"format": "email", "email": userName}
		}
		return u
	}
	userSubject := func(u Subject) (Subject, []string) {
		s := Subject{"format": "complex", "user": map[string]any(u)}
		keys := []string{u.Key(), "opaque:" + f.UserID}
		if f.ConnectionSlug != "" {
			s["tenant"] = map[string]any{"format": "opaque", "id": f.ConnectionSlug}
			keys = append(keys, "opaque:"+f.ConnectionSlug)
		}
		return s, keys
	}
	var out []SET
	order := "user:" + f.UserID
	if e.Action == "org.update" {
		order = "org:" + f.OrgSlug
	}
	add := func(suffix, typ string, sub Subject, keys []string, body map[string]any) {
		body["event_timestamp"] = iat
		if f.ServiceAccount != "" {
			body["service_account"] = f.ServiceAccount
		}
		out = append(out, SET{Suffix: suffix, Subject: order, Type: typ, Keys: keys, Claims: map[string]any{
			"iat": iat, "txn": e.ID, "sub_id": map[string]any(sub), "events": map[string]any{typ: body},
		}})
	}
	reason := func(s string) map[string]any { return map[string]any{"en": s} }
	switch e.Action {
	case "user.update":
		if f.UserID == "" {
			return nil
		}
		sub, keys := userSubject(user(f.Email, f.UserName))
		if c, ok := diff["userName"]; ok {
			before, _ := c.Before.(string)
			after, _ := c.After.(string)
			if before != "" && after != "" {
				// The subject is the identifier the receiver knew the user by.
				old, okeys := userSubject(user(emailIfSame(f.Email, after), before))
				add("id", IdentifierChanged, old, append(okeys, keys...), map[string]any{"new-value": after})
			}
		}
		if c, ok := diff["active"]; ok {
			switch c.After {
			case false:
				add("dis", AccountDisabled, sub, keys, map[string]any{"initiating_entity": initiator,
					"reason_admin": reason("deactivated by the identity provider")})
				add("ses", SessionRevoked, sub, keys, map[string]any{"initiating_entity": initiator,
					"reason_admin": reason("account deactivated")})
			case true:
				add("ena", AccountEnabled, sub, keys, map[string]any{})
			}
		}
		if c, ok := diff["password"]; ok && c.After == "new" {
			change := "update"
			if c.Before == nil {
				change = "create"
			}
			add("cred", CredentialChange, sub, keys, map[string]any{"credential_type": "password", "change_type": change,
				"initiating_entity": initiator})
		}
	case "user.delete":
		if f.UserID == "" {
			return nil
		}
		name, email := f.UserName, f.Email
		if c, ok := diff["userName"]; ok && name == "" {
			name, _ = c.Before.(string)
		}
		sub, keys := userSubject(user(email, name))
		add("ses", SessionRevoked, sub, keys, map[string]any{"initiating_entity": initiator,
			"reason_admin": reason("account deleted")})
		add("pur", AccountPurged, sub, keys, map[string]any{})
	case "grant.revoke":
		if f.UserID == "" {
			return nil
		}
		var d struct {
			Reason string `json:"reason"`
			RoleID string `json:"role_id"`
		}
		_ = json.Unmarshal(e.Diff, &d)
		sub, keys := userSubject(user(f.Email, f.UserName))
		body := map[string]any{"grant": e.TargetID, "role": d.RoleID, "org": f.OrgSlug, "initiating_entity": initiator}
		if d.Reason != "" {
			body["reason_admin"] = reason(d.Reason)
		}
		add("grant", GrantRevoked, sub, keys, body)
	case "grants.revoke", "grants.sync":
		// A SET per grant, about its holder, as grant.revoke gives for one.
		for _, g := range f.Revoked {
			h := g.Holder
			h.ConnectionSlug, h.OrgSlug = f.ConnectionSlug, g.OrgSlug
			one := audit.Event{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: "grant.revoke", TargetType: "grant", TargetID: g.ID,
				Diff: audit.Detail(map[string]any{"reason": g.Reason, "role_id": g.RoleID, "user_id": h.UserID})}
			for _, set := range SETs(&one, h) {
				set.Suffix = g.ID + "-" + set.Suffix
				out = append(out, set)
			}
		}
	case "service_account.orphan":
		if f.ServiceAccount == "" {
			return nil
		}
		var d struct {
			Why string `json:"why"`
		}
		_ = json.Unmarshal(e.Diff, &d)
		sub, keys := userSubject(user("", ""))
		add("dis", AccountDisabled, sub, keys, map[string]any{"initiating_entity": initiator,
			"reason_admin": reason("service account orphaned: " + d.Why)})
	case "service_account.adopt", "service_account.reassign":
		if f.ServiceAccount == "" || !orphanEnded(e.Diff) {
			return nil
		}
		sub, keys := userSubject(user("", ""))
		add("ena", AccountEnabled, sub, keys, map[string]any{})
	case "service_account.retire":
		if f.ServiceAccount == "" {
			return nil
		}
		var d struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(e.Diff, &d)
		sub, keys := userSubject(user("", ""))
		add("ses", SessionRevoked, sub, keys, map[string]any{"initiating_entity": initiator,
			"reason_admin": reason("service account retired: " + d.Reason)})
		add("pur", AccountPurged, sub, keys, map[string]any{})
	case "org.update":
		c, ok := diff["status"]
		if !ok || f.OrgSlug == "" {
			return nil
		}
		status, _ := c.After.(string)
		if status != "ended" && status != "suspended" {
			return nil
		}
		sub := Subject{"format": "complex", "tenant": map[string]any{"format": "opaque", "id": f.OrgSlug}}
		add("org", RelationshipEnded, sub, []string{"opaque:" + f.OrgSlug},
			map[string]any{"status": status, "initiating_entity": initiator})
	}
	return out
}

// orphanEnded reports whether a service account event's change took the account out of
// being an orphan: its orphan_deadline was set before and is not after, whether the
// event is a diff ({"orphan_deadline": {"before": …, "after": null}}) or a detail with
// the whole account before and after.
func orphanEnded(raw json.RawMessage) bool {
	var diff map[string]change
	if json.Unmarshal(raw, &diff) == nil {
		if c, ok := diff["orphan_deadline"]; ok {
			return c.Before != nil && c.After == nil
		}
	}
	var d struct {
		Before, After *struct {
			OrphanDeadline any `json:"orphan_deadline"`
		}
	}
	if json.Unmarshal(raw, &d) != nil || d.Before == nil || d.After == nil {
		return false
	}
	return d.Before.OrphanDeadline != nil && d.After.OrphanDeadline == nil
}

// emailIfSame keeps the e-mail subject for the old identifier only when the e-mail was
// not simply the userName that changed.
func emailIfSame(email, newName string) string {
	if strings.EqualFold(email, newName) {
		return ""
	}
	return email
}

// Requested reports whether a stream that requested types takes typ.
func Requested(types []string, typ string) bool {
	for _, t := range types {
		if t == typ {
			return true
		}
	}
	return false
}
