package provisioning

import (
	"context"
	"encoding/json"
	"time"

	"github.com/orgscim/orgscim/audit"
)

// Audit actions of the changes a connection's IdP makes.
const (
	ActionUserCreate   = "user.create"
	ActionUserRestore  = "user.restore" // a create that brought back a deleted user by externalId
	ActionUserUpdate   = "user.update"
	ActionUserDelete   = "user.delete"
	ActionGroupCreate  = "group.create"
	ActionGroupUpdate  = "group.update"
	ActionGroupDelete  = "group.delete"
	ActionGroupMembers = "group.members"
)

// maxAuditIDs bounds each list of member ids in one event: a sync that replaces the
// members of a 100,000-member group must not turn its audit row into megabytes. The
// event keeps the count, so nothing is hidden but the tail of the list.
const maxAuditIDs = 1000

// record appends one event of a change to conn, in the transaction of ctx.
func record(ctx context.Context, log AuditLog, now time.Time, action, targetType, targetID, conn, orgID string, diff json.RawMessage) error {
	e := audit.New(ctx, now, action, targetType, targetID)
	e.ConnectionID = conn
	// Empty lets the store place the event in the connection's org; a placed user's
	// events belong to the sub-org that delegated administrators of it may read.
	e.OrgID = orgID
	e.Diff = diff
	return log.Record(ctx, e)
}

// emptyDiff reports whether audit.Diff found nothing that changed.
func emptyDiff(d json.RawMessage) bool { return string(d) == "{}" }

// userDiff is the audit diff of a user between two states (nil before: created, nil
// after: deleted). It compares the attributes as the IdP sent them and the effective
// active flag, which a missing active leaves true.
//
// The password hash never enters the diff, not even to be redacted: a bcrypt hash is
// offline-crackable evidence nobody needs. A marker stands in for it, so the diff shows
// only that a password was set or replaced.
func userDiff(before, after *User) json.RawMessage {
	var b, a map[string]any
	if before != nil {
		b = userAuditDoc(before)
		if before.PasswordHash != "" {
			b["password"] = "set"
		}
	}
	if after != nil {
		a = userAuditDoc(after)
		switch {
		case after.PasswordHash == "":
		case before != nil && after.PasswordHash == before.PasswordHash:
			a["password"] = "set"
		default:
			a["password"] = "new"
		}
	}
	return audit.Diff(b, a)
}

func userAuditDoc(u *User) map[string]any {
	doc := make(map[string]any, len(u.Attributes)+2)
	for k, v := range u.Attributes {
		doc[k] = v
	}
	delete(doc, "password")
	doc["active"] = u.Active
	return doc
}

// groupAuditDoc is a group's attributes with, when there are any, the ids of the
// members a create added or a delete removed, and of the groups a deleted group left.
func groupAuditDoc(attrs map[string]any, members, memberOf []string) map[string]any {
	doc := make(map[string]any, len(attrs)+4)
	for k, v := range attrs {
		doc[k] = v
	}
	if len(members) > 0 {
		doc["members"], doc["memberCount"] = bounded(members), len(members)
	}
	if len(memberOf) > 0 {
		doc["memberOf"], doc["memberOfCount"] = bounded(memberOf), len(memberOf)
	}
	return doc
}

// memberDetail is the record of a group.members event.
type memberDetail struct {
	Added        []string `json:"added"`
	Removed      []string `json:"removed"`
	AddedCount   int      `json:"addedCount"`
	RemovedCount int      `json:"removedCount"`
}

func membersDetail(changes []MembershipChange) json.RawMessage {
	var added, removed []string
	for _, c := range changes {
		if c.Added {
			added = append(added, c.MemberID)
		} else {
			removed = append(removed, c.MemberID)
		}
	}
	return audit.Detail(memberDetail{
		Added: bounded(added), Removed: bounded(removed), AddedCount: len(added), RemovedCount: len(removed),
	})
}

func bounded(ids []string) []string {
	if ids == nil {
		return []string{}
	}
	return ids[:min(len(ids), maxAuditIDs)]
}

// cloneJSON deep-copies a decoded JSON value, so that the state before a change stays
// what it was however fn edits the resource in place.
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cloneJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneJSON(e)
		}
		return out
	}
	return v
}

func cloneAttrs(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return cloneJSON(m).(map[string]any)
}
