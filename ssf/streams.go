package ssf

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// Delivery methods (SSF 1.0 §6.1).
const (
	PushMethod = "urn:ietf:rfc:8935"
	PollMethod = "urn:ietf:rfc:8936"
)

// Stream statuses (SSF 1.0 §8.1.2). A paused stream keeps its SETs for later; a disabled
// one gets none.
const (
	Enabled  = "enabled"
	Paused   = "paused"
	Disabled = "disabled"
)

// Receiver states.
const (
	ReceiverActive  = "active"
	ReceiverRevoked = "revoked"
)

// TokenPrefix starts every receiver token, so that a leaked one is recognisable.
const TokenPrefix = "ossf_"

// MaxStreams bounds the streams of one receiver.
const MaxStreams = 16

// Receiver is a downstream application an operator registered. Its streams carry the
// events of its connection, or, with none, of every tenant and the control plane.
type Receiver struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Audience       string     `json:"audience"`
	ConnectionID   string     `json:"connectionId,omitempty"`
	ConnectionSlug string     `json:"connection,omitempty"`
	State          string     `json:"state"`
	Created        time.Time  `json:"created"`
	Revoked        *time.Time `json:"revoked,omitempty"`
	Streams        int        `json:"streams"`
	TokenHash      string     `json:"-"`
}

// Stream is one event stream of a receiver.
type Stream struct {
	ID                  string
	ReceiverID          string
	ConnectionID        string
	Description         string
	EventsRequested     []string
	Method              string
	EndpointURL         string // push: the receiver's; poll: empty (the transmitter's poll URL)
	AuthorizationHeader string
	Status              string
	Reason              string
	Created, Updated    time.Time
}

// EventsDelivered are the requested types orgscim sends.
func (s *Stream) EventsDelivered() []string {
	out := []string{}
	for _, t := range Supported {
		if Requested(s.EventsRequested, t) {
			out = append(out, t)
		}
	}
	return out
}

// Store keeps receivers, streams and removed subjects; queued SETs are the Outbox's.
type Store interface {
	CreateReceiver(ctx context.Context, r *Receiver) error
	// Receivers lists every receiver, oldest first.
	Receivers(ctx context.Context) ([]Receiver, error)
	// RevokeReceiver revokes the receiver's token and disables its streams, whose queued
	// SETs are given up; it returns the receiver as it was and the streams it stopped
	// (enabled or paused before), as they were. NotFound when none.
	RevokeReceiver(ctx context.Context, id string, at time.Time) (*Receiver, []Stream, error)
	// ReceiverByToken finds the active receiver whose token hashes to hash (NotFound).
	ReceiverByToken(ctx context.Context, hash string) (*Receiver, error)

	CreateStream(ctx context.Context, s *Stream, max int) error
	// Streams lists a receiver's streams, oldest first.
	Streams(ctx context.Context, receiverID string) ([]Stream, error)
	// UpdateStream reads the receiver's stream id, lets fn change it, and writes it,
	// in one transaction. NotFound when the receiver has no such stream.
	UpdateStream(ctx context.Context, receiverID, id string, fn func(*Stream) error) (*Stream, error)
	// DeleteStream deletes the stream with its subjects and queued SETs.
	DeleteStream(ctx context.Context, receiverID, id string) error
	// RemoveSubject stops SETs about the subject key on the stream; AddSubject undoes it.
	RemoveSubject(ctx context.Context, streamID, key, subject string, at time.Time) error
	AddSubject(ctx context.Context, streamID, key string) error
	// QueueSET queues one SET outside any audit event (verification).
	QueueSET(ctx context.Context, streamID, jti, typ string, claims []byte, at time.Time) error
	// LastVerification is when the stream's latest verification SET was queued, zero if
	// none was.
	LastVerification(ctx context.Context, streamID string) (time.Time, error)
}

// MinVerificationInterval is the least time between two verification requests on a
// stream (SSF 1.0 §8.1.1 min_verification_interval): verification asks for a SET, and
// a receiver looping on it would fill its own queue.
const MinVerificationInterval = 30 * time.Second

// Transactor runs fn in one transaction, with the audit events recorded in it.
type Transactor interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// AuditLog records the audit event of a change, in the change's transaction.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
}

// Streams is the transmitter's management of receivers and streams. Every change is
// audited in its transaction.
type Streams struct {
	Store Store
	Tx    Transactor
	Audit AuditLog
	Now   func() time.Time
}

func (s *Streams) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Streams) record(ctx context.Context, action, targetType, targetID, conn string, detail any) error {
	e := audit.New(ctx, s.now(), action, targetType, targetID)
	e.ConnectionID = conn
	e.Diff = audit.Detail(detail)
	return s.Audit.Record(ctx, e)
}

// AddReceiver registers a receiver and returns it with its bearer token: the only time
// the token is shown. connectionID "" receives every tenant's events.
func (s *Streams) AddReceiver(ctx context.Context, name, audienceValue, connectionID string) (*Receiver, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, "", orgscim.Errorf(orgscim.Invalid, "a receiver needs a name of at most 200 characters")
	}
	if audienceValue == "" {
		audienceValue = name
	}
	token := orgs.NewSecret(TokenPrefix)
	r := &Receiver{ID: provisioning.NewID(), Name: name, Audience: audienceValue, ConnectionID: connectionID,
		State: ReceiverActive, Created: s.now(), TokenHash: orgs.HashToken(token)}
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateReceiver(ctx, r); err != nil {
			return err
		}
		return s.record(ctx, "ssf_receiver.create", "ssf_receiver", r.ID, connectionID,
			map[string]any{"name": name, "audience": audienceValue})
	})
	if err != nil {
		return nil, "", err
	}
	return r, token, nil
}

// RevokeReceiver revokes a receiver: its token stops working and its streams stop. Each
// push stream it stopped is told so first, by a stream-updated SET (SSF 1.0 §8.1.5)
// queued in the same transaction, after which the stream sends nothing more: the
// receiver learns why its SETs stopped instead of waiting for ones that never come. A
// poll stream is not told: its receiver can no longer poll.
func (s *Streams) RevokeReceiver(ctx context.Context, id string) (*Receiver, error) {
	var out *Receiver
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		now := s.now()
		r, stopped, err := s.Store.RevokeReceiver(ctx, id, now)
		if err != nil {
			return err
		}
		if r.State == ReceiverRevoked {
			return orgscim.Errorf(orgscim.Conflict, "receiver %s is already revoked", id)
		}
		out = r
		for _, st := range stopped {
			if st.Method == PushMethod {
				if err := s.queueStreamUpdated(ctx, &st, Disabled, "receiver revoked", now); err != nil {
					return err
				}
			}
		}
		return s.record(ctx, "ssf_receiver.revoke", "ssf_receiver", r.ID, r.ConnectionID, map[string]any{"name": r.Name})
	})
	return out, err
}

// queueStreamUpdated queues the stream-updated SET (SSF 1.0 §8.1.5) that tells the
// stream's receiver the transmitter set its status: about the stream itself (an opaque
// subject, its id), with the new status and why.
func (s *Streams) queueStreamUpdated(ctx context.Context, st *Stream, status, reason string, at time.Time) error {
	body := map[string]any{"status": status}
	if reason != "" {
		body["reason"] = reason
	}
	claims, err := json.Marshal(map[string]any{"iat": at.Unix(), "sub_id": map[string]any{"format": "opaque", "id": st.ID},
		"events": map[string]any{StreamUpdated: body}})
	if err != nil {
		return err
	}
	return s.Store.QueueSET(ctx, st.ID, "stream-updated-"+provisioning.NewID(), StreamUpdated, claims, at)
}

// Authenticate finds the active receiver of a bearer token; Unauthorized otherwise.
func (s *Streams) Authenticate(ctx context.Context, token string) (*Receiver, error) {
	if !orgs.WellFormedSecret(TokenPrefix, token) {
		return nil, orgscim.Errorf(orgscim.Unauthorized, "not a valid receiver token")
	}
	r, err := s.Store.ReceiverByToken(ctx, orgs.HashToken(token))
	if orgscim.ErrorCode(err) == orgscim.NotFound {
		return nil, orgscim.Errorf(orgscim.Unauthorized, "not a valid receiver token")
	}
	return r, err
}

// StreamRequest is what a receiver asks of a stream, decoded from a create, update or
// replace. A nil field is absent from the request.
type StreamRequest struct {
	Description         *string
	EventsRequested     *[]string
	Method              *string
	EndpointURL         *string
	AuthorizationHeader *string
}

func validEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return orgscim.Errorf(orgscim.Invalid, "delivery.endpoint_url must be an absolute http:// or https:// URL without credentials or fragment")
	}
	return nil
}

// apply sets the fields req carries on st and checks the result. replace clears what
// req leaves out.
func (req StreamRequest) apply(st *Stream, replace bool) error {
	if replace {
		st.Description, st.EventsRequested, st.EndpointURL, st.AuthorizationHeader = "", nil, "", ""
		if req.Method == nil {
			return orgscim.Errorf(orgscim.Invalid, "delivery.method is required")
		}
	}
	if req.Description != nil {
		if len(*req.Description) > 1000 {
			return orgscim.Errorf(orgscim.Invalid, "description is longer than 1000 characters")
		}
		st.Description = *req.Description
	}
	if req.EventsRequested != nil {
		if len(*req.EventsRequested) > 100 {
			return orgscim.Errorf(orgscim.Invalid, "events_requested lists more than 100 types")
		}
		ev := []string{}
		for _, t := range *req.EventsRequested {
			if t == "" || strings.ContainsAny(t, " \t\r\n") || len(t) > 500 {
				return orgscim.Errorf(orgscim.Invalid, "events_requested holds an invalid event type")
			}
			if !Requested(ev, t) {
				ev = append(ev, t)
			}
		}
		st.EventsRequested = ev
	}
	if req.Method != nil {
		switch *req.Method {
		case PushMethod, PollMethod:
		default:
			return orgscim.Errorf(orgscim.Invalid, "delivery.method must be %s (push) or %s (poll)", PushMethod, PollMethod)
		}
		if *req.Method != st.Method {
			st.EndpointURL = ""
		}
		st.Method = *req.Method
	}
	if req.EndpointURL != nil && st.Method == PushMethod {
		st.EndpointURL = *req.EndpointURL
	}
	if req.AuthorizationHeader != nil {
		if len(*req.AuthorizationHeader) > 4096 || strings.ContainsAny(*req.AuthorizationHeader, "\r\n") {
			return orgscim.Errorf(orgscim.Invalid, "delivery.authorization_header is not a valid header value")
		}
		st.AuthorizationHeader = *req.AuthorizationHeader
	}
	if st.Method == PushMethod {
		if err := validEndpoint(st.EndpointURL); err != nil {
			return err
		}
	}
	return nil
}

// CreateStream creates a stream for r. Without events_requested it requests every
// supported type.
func (s *Streams) CreateStream(ctx context.Context, r *Receiver, req StreamRequest) (*Stream, error) {
	if req.EventsRequested == nil {
		all := append([]string(nil), Supported...)
		req.EventsRequested = &all
	}
	now := s.now()
	st := &Stream{ID: provisioning.NewID(), ReceiverID: r.ID, ConnectionID: r.ConnectionID, Status: Enabled,
		Created: now, Updated: now}
	if err := req.apply(st, true); err != nil {
		return nil, err
	}
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.CreateStream(ctx, st, MaxStreams); err != nil {
			return err
		}
		return s.record(ctx, "ssf_stream.create", "ssf_stream", st.ID, r.ConnectionID,
			map[string]any{"receiver": r.ID, "method": st.Method, "events": st.EventsRequested})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Stream returns one of r's streams.
func (s *Streams) Stream(ctx context.Context, r *Receiver, id string) (*Stream, error) {
	return s.Store.UpdateStream(ctx, r.ID, id, nil)
}

// List returns r's streams.
func (s *Streams) List(ctx context.Context, r *Receiver) ([]Stream, error) {
	return s.Store.Streams(ctx, r.ID)
}

// UpdateStream changes (replace: replaces) the configuration of one of r's streams.
func (s *Streams) UpdateStream(ctx context.Context, r *Receiver, id string, req StreamRequest, replace bool) (*Stream, error) {
	var out *Stream
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		st, err := s.Store.UpdateStream(ctx, r.ID, id, func(st *Stream) error {
			if err := req.apply(st, replace); err != nil {
				return err
			}
			st.Updated = s.now()
			return nil
		})
		if err != nil {
			return err
		}
		out = st
		return s.record(ctx, "ssf_stream.update", "ssf_stream", st.ID, r.ConnectionID,
			map[string]any{"receiver": r.ID, "method": st.Method, "events": st.EventsRequested, "replace": replace})
	})
	return out, err
}

// DeleteStream deletes one of r's streams and what is queued for it.
func (s *Streams) DeleteStream(ctx context.Context, r *Receiver, id string) error {
	return s.Tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.Store.DeleteStream(ctx, r.ID, id); err != nil {
			return err
		}
		return s.record(ctx, "ssf_stream.delete", "ssf_stream", id, r.ConnectionID, map[string]any{"receiver": r.ID})
	})
}

// SetStatus enables, pauses or disables one of r's streams.
func (s *Streams) SetStatus(ctx context.Context, r *Receiver, id, status, reason string) (*Stream, error) {
	switch status {
	case Enabled, Paused, Disabled:
	default:
		return nil, orgscim.Errorf(orgscim.Invalid, "status must be enabled, paused or disabled")
	}
	if len(reason) > 1000 {
		return nil, orgscim.Errorf(orgscim.Invalid, "reason is longer than 1000 characters")
	}
	var out *Stream
	err := s.Tx.InTx(ctx, func(ctx context.Context) error {
		st, err := s.Store.UpdateStream(ctx, r.ID, id, func(st *Stream) error {
			st.Status, st.Reason, st.Updated = status, reason, s.now()
			return nil
		})
		if err != nil {
			return err
		}
		out = st
		return s.record(ctx, "ssf_stream.status", "ssf_stream", st.ID, r.ConnectionID,
			map[string]any{"receiver": r.ID, "status": status, "reason": reason})
	})
	return out, err
}

// subjectKey checks a subject of a request and returns its key.
func subjectKey(sub Subject) (string, error) {
	if sub == nil {
		return "", orgscim.Errorf(orgscim.Invalid, "subject is required")
	}
	format, _ := sub["format"].(string)
	switch format {
	case "email", "opaque", "complex":
	default:
		return "", orgscim.Errorf(orgscim.Invalid, "subject format must be email, opaque or complex")
	}
	k := sub.Key()
	if k == "" || len(k) > 500 {
		return "", orgscim.Errorf(orgscim.Invalid, "subject lacks the member its format requires")
	}
	return k, nil
}

// RemoveSubject stops the stream's SETs about sub.
func (s *Streams) RemoveSubject(ctx context.Context, r *Receiver, id string, sub Subject, subjectJSON string) error {
	key, err := subjectKey(sub)
	if err != nil {
		return err
	}
	if _, err := s.Stream(ctx, r, id); err != nil {
		return err
	}
	return s.Store.RemoveSubject(ctx, id, key, subjectJSON, s.now())
}

// AddSubject sends SETs about sub on the stream again. Streams send every subject by
// default, so this undoes a removal.
func (s *Streams) AddSubject(ctx context.Context, r *Receiver, id string, sub Subject) error {
	key, err := subjectKey(sub)
	if err != nil {
		return err
	}
	if _, err := s.Stream(ctx, r, id); err != nil {
		return err
	}
	return s.Store.AddSubject(ctx, id, key)
}

// Verify queues a verification event on the stream, carrying state back.
func (s *Streams) Verify(ctx context.Context, r *Receiver, id, state string, marshal func(any) ([]byte, error)) error {
	if len(state) > 1000 {
		return orgscim.Errorf(orgscim.Invalid, "state is longer than 1000 characters")
	}
	st, err := s.Stream(ctx, r, id)
	if err != nil {
		return err
	}
	if st.Status == Disabled {
		return orgscim.Errorf(orgscim.Conflict, "the stream is disabled")
	}
	now := s.now()
	last, err := s.Store.LastVerification(ctx, st.ID)
	if err != nil {
		return err
	}
	if wait := last.Add(MinVerificationInterval).Sub(now); !last.IsZero() && wait > 0 {
		return orgscim.Errorf(orgscim.RateLimited, "a verification was requested %s ago; the stream's min_verification_interval is %d seconds",
			now.Sub(last).Round(time.Second), int(MinVerificationInterval/time.Second))
	}
	body := map[string]any{}
	if state != "" {
		body["state"] = state
	}
	claims, err := marshal(map[string]any{"iat": now.Unix(), "sub_id": map[string]any{"format": "opaque", "id": st.ID},
		"events": map[string]any{Verification: body}})
	if err != nil {
		return err
	}
	return s.Store.QueueSET(ctx, st.ID, "verify-"+provisioning.NewID(), Verification, claims, now)
}
