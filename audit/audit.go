package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Control is the chain of changes that belong to no connection.
const Control = "control"

// Event is one change. The domain fills what happened (Time, Action, Target, Diff, and
// OrgID or ConnectionID); Source fills who and from where; the store fills the tenant
// (Chain), the event's number (Seq), its content hash (Hash), the event id and, from
// OrgID, OrgPath. PrevHash links the events written before the log in their chain.
type Event struct {
	ID           string          `json:"id"`
	Chain        string          `json:"chain"`
	Seq          int64           `json:"seq"`
	Time         time.Time       `json:"time"`
	Actor        string          `json:"actor"`
	ConnectionID string          `json:"connectionId,omitempty"`
	OrgID        string          `json:"orgId,omitempty"`
	OrgPath      string          `json:"orgPath,omitempty"`
	Action       string          `json:"action"`
	TargetType   string          `json:"targetType"`
	TargetID     string          `json:"targetId"`
	Diff         json.RawMessage `json:"diff,omitempty"`
	RequestID    string          `json:"requestId,omitempty"`
	ClientAddr   string          `json:"clientAddr,omitempty"`
	PrevHash     string          `json:"prevHash"`
	Hash         string          `json:"hash"`
}

// ChainOf is the chain an event belongs to.
func ChainOf(e *Event) string {
	if e.ConnectionID != "" {
		return e.ConnectionID
	}
	return Control
}

// hashed is what the hash covers: every field of the event but the hash itself, in a
// fixed order, with time in milliseconds (what the store keeps).
type hashed struct {
	V            int    `json:"v"`
	ID           string `json:"id"`
	Chain        string `json:"chain"`
	Seq          int64  `json:"seq"`
	Time         int64  `json:"time"`
	Actor        string `json:"actor"`
	ConnectionID string `json:"connectionId"`
	OrgID        string `json:"orgId"`
	OrgPath      string `json:"orgPath"`
	Action       string `json:"action"`
	TargetType   string `json:"targetType"`
	TargetID     string `json:"targetId"`
	Diff         string `json:"diff"`
	RequestID    string `json:"requestId"`
	ClientAddr   string `json:"clientAddr"`
	PrevHash     string `json:"prevHash"`
}

// ComputeHash is the event's hash: hex SHA-256 over its fields and PrevHash. The diff
// is hashed as the exact bytes stored.
func ComputeHash(e *Event) string {
	b, err := json.Marshal(hashed{
		V: 1, ID: e.ID, Chain: e.Chain, Seq: e.Seq, Time: e.Time.UnixMilli(), Actor: e.Actor,
		ConnectionID: e.ConnectionID, OrgID: e.OrgID, OrgPath: e.OrgPath, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, Diff: string(e.Diff),
		RequestID: e.RequestID, ClientAddr: e.ClientAddr, PrevHash: e.PrevHash,
	})
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal places e after a chain's head (seq, hash) and computes its chain hash: how
// events were written before the log (tests of the migration write them so).
func Seal(e *Event, chain string, seq int64, prevHash string) {
	e.Chain, e.Seq, e.PrevHash = chain, seq, prevHash
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	e.Hash = ComputeHash(e)
}

// Source is who makes a change and from where. Adapters put it in the request's
// context; the domain copies it into each event it records.
type Source struct {
	// Actor names the principal: "token:<id>" (a connection's IdP), "admin_key:<id>",
	// "operator:<name>" (the CLI), "system:<job>".
	Actor      string
	RequestID  string
	ClientAddr string
}

type sourceKey struct{}

// WithSource returns ctx carrying s.
func WithSource(ctx context.Context, s Source) context.Context {
	return context.WithValue(ctx, sourceKey{}, s)
}

// SourceOf returns the source in ctx; without one the actor is "system:unknown", so that
// a change made by code that forgot to say who it is still shows up as such.
func SourceOf(ctx context.Context) Source {
	if s, ok := ctx.Value(sourceKey{}).(Source); ok && s.Actor != "" {
		return s
	}
	return Source{Actor: "system:unknown"}
}

// New starts an event of the change in ctx; the caller sets the tenant (ConnectionID or
// OrgID) and the diff.
func New(ctx context.Context, now time.Time, action, targetType, targetID string) Event {
	s := SourceOf(ctx)
	return Event{
		Time: now, Actor: s.Actor, RequestID: s.RequestID, ClientAddr: s.ClientAddr,
		Action: action, TargetType: targetType, TargetID: targetID,
	}
}

// Query selects events for GET /api/v1/audit. Empty fields select everything; events
// come oldest first.
type Query struct {
	OrgPath  string // the subtree: events whose org path starts with it
	Actor    string
	TargetID string
	Action   string // exact, or a prefix ending in "." ("user." is every user action)
	Since    time.Time
	Until    time.Time // exclusive
	After    string    // the cursor of the last event of the previous page
	Limit    int
}

// Cursor is the position of e in the order events are listed in.
func Cursor(e *Event) string {
	return strconv.FormatInt(e.Time.UnixMilli(), 10) + "_" + e.ID
}

// ParseCursor reads a Cursor; ok is false for anything that is not one.
func ParseCursor(s string) (at int64, id string, ok bool) {
	a, id, found := strings.Cut(s, "_")
	n, err := strconv.ParseInt(a, 10, 64)
	return n, id, found && err == nil && id != "" && n >= 0
}
