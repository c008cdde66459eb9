package adminapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
)

// AuditReader lists audit events (sqlstore.AuditLog does).
type AuditReader interface {
	Events(ctx context.Context, q audit.Query) ([]audit.Event, error)
}

const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000 // also the page size of the NDJSON export
	ndjsonType        = "application/x-ndjson"
)

func (s *Server) auditLog() AuditReader {
	if s.Audit != nil {
		return s.Audit
	}
	if s.Directory != nil {
		if r, ok := s.Directory.Audit.(AuditReader); ok {
			return r
		}
	}
	return nil
}

func (s *Server) auditEvents(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	log := s.auditLog()
	if log == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "this server keeps no audit trail")
	}
	q, stream, err := s.auditQuery(ctx, p, c)
	if err != nil {
		return err
	}
	if stream {
		return s.exportAudit(c, log, q)
	}
	events, err := log.Events(ctx, q)
	if err != nil {
		return err
	}
	out := AuditPage{Events: make([]AuditEvent, len(events))}
	for i := range events {
		out.Events[i] = auditEventJSON(&events[i])
	}
	// A full page may have a successor; the one after the last event may be empty.
	if len(events) == q.Limit {
		next := out.Events[len(events)-1].Cursor
		out.NextCursor = &next
	}
	return c.JSON(http.StatusOK, out)
}

// auditQuery reads the query parameters, and confines a delegate to its subtree: the
// org filter it gives must lie inside it, and without one it is the subtree itself.
// stream reports whether the caller asked for the NDJSON export.
func (s *Server) auditQuery(ctx context.Context, p orgs.Principal, c echo.Context) (q audit.Query, stream bool, err error) {
	v := c.QueryParams()
	invalid := func(format string, args ...any) (audit.Query, bool, error) {
		return audit.Query{}, false, orgscim.Errorf(orgscim.Invalid, format, args...)
	}
	q = audit.Query{Actor: v.Get("actor"), TargetID: v.Get("target"), Action: v.Get("action"), Limit: defaultAuditLimit}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if raw := v.Get(t.name); raw != "" {
			if *t.to, err = time.Parse(time.RFC3339, raw); err != nil {
				return invalid("%s must be an RFC 3339 time such as 2030-01-02T03:04:05Z", t.name)
			}
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return invalid("until must be after since")
	}
	if raw := v.Get("cursor"); raw != "" {
		if _, _, ok := audit.ParseCursor(raw); !ok {
			return invalid("cursor must be a next_cursor or an event's cursor as this API returned it")
		}
		q.After = raw
	}
	if raw := v.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxAuditLimit {
			return invalid("limit must be an integer from 1 to %d", maxAuditLimit)
		}
		q.Limit = n
	}
	switch f := v.Get("format"); f {
	case "ndjson":
		stream = true
	case "", "json":
		stream = f == "" && strings.Contains(strings.ToLower(c.Request().Header.Get(echo.HeaderAccept)), ndjsonType)
	default:
		return invalid("format must be json or ndjson")
	}

	var scope *orgs.Org
	if slug := v.Get("org"); slug != "" {
		if scope, err = s.Directory.Store.OrgBySlug(ctx, slug); err != nil {
			return audit.Query{}, false, err
		}
	} else if p.Operator == "" {
		if scope, err = s.home(ctx, p); err != nil {
			return audit.Query{}, false, err
		}
		if scope == nil {
			return audit.Query{}, false, orgscim.Errorf(orgscim.Forbidden, "no authority here")
		}
	}
	if scope != nil {
		if err := s.canSee(ctx, p, scope); err != nil {
			return audit.Query{}, false, err
		}
		q.OrgPath = scope.Path
	}
	return q, stream, nil
}

// exportAudit streams every event q selects as NDJSON, a page of the store at a time, so
// that memory stays constant however long the trail.
func (s *Server) exportAudit(c echo.Context, log AuditReader, q audit.Query) error {
	ctx := c.Request().Context()
	q.Limit = maxAuditLimit
	// The first page is read before the status is sent, so that its failure is still an
	// error document.
	page, err := log.Events(ctx, q)
	if err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, ndjsonType)
	res.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(res)
	for {
		for i := range page {
			if err := enc.Encode(auditEventJSON(&page[i])); err != nil {
				return nil // the client went away
			}
		}
		res.Flush()
		if len(page) < q.Limit {
			return nil
		}
		q.After = audit.Cursor(&page[len(page)-1])
		if page, err = log.Events(ctx, q); err != nil {
			// The status is sent: breaking the connection is the only way left to tell
			// the client that the export is incomplete, rather than let it pass for whole.
			s.logger().LogAttrs(ctx, slog.LevelError, "audit export failed",
				slog.String("request_id", requestID(c)), slog.String("error", err.Error()))
			panic(http.ErrAbortHandler)
		}
	}
}

func auditEventJSON(e *audit.Event) AuditEvent {
	return AuditEvent{ID: e.ID, Cursor: audit.Cursor(e), Time: e.Time, Actor: e.Actor, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, OrgID: e.OrgID, OrgPath: e.OrgPath,
		ConnectionID: e.ConnectionID, Diff: e.Diff, RequestID: e.RequestID, ClientAddr: e.ClientAddr,
		Chain: e.Chain, Seq: e.Seq, PrevHash: e.PrevHash, Hash: e.Hash}
}

// AuditProver gives an event's inclusion proof in the log (sqlstore.AuditLog does).
type AuditProver interface {
	Proof(ctx context.Context, id string) (*audit.InclusionProof, error)
}

// AuditProof is an event's inclusion proof against the latest signed checkpoint.
type AuditProof struct {
	Event AuditEvent `json:"event"`
	// Leaf is the bytes the log committed to for the event (base64); its leaf hash is
	// SHA-256(0x00 || leaf).
	Leaf     string `json:"leaf"`
	LeafHash string `json:"leaf_hash"`
	Position int64  `json:"position"`
	TreeSize int64  `json:"tree_size"`
	// Proof is the RFC 6962 audit path from the leaf to the checkpoint's root (base64 hashes).
	Proof []string `json:"proof"`
	// Checkpoint is the signed checkpoint (C2SP signed note) the proof leads to.
	Checkpoint string `json:"checkpoint"`
}

func (s *Server) auditProof(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	prover, ok := s.auditLog().(AuditProver)
	if !ok {
		return orgscim.Errorf(orgscim.NotImplemented, "this server keeps no verifiable audit log")
	}
	id := c.Param("id")
	proof, err := prover.Proof(ctx, id)
	if err != nil {
		return err
	}
	if p.Operator == "" {
		// A delegate sees the proofs of its subtree's events; any other is, for it, no event.
		hidden := orgscim.Errorf(orgscim.NotFound, "no audit event %q", id)
		if proof.Event.OrgID == "" {
			return hidden
		}
		org, err := s.Directory.Store.OrgByID(ctx, proof.Event.OrgID)
		if err != nil || s.canSee(ctx, p, org) != nil {
			return hidden
		}
	}
	leaf := audit.LeafData(&proof.Event)
	lh := audit.LeafHash(&proof.Event)
	out := AuditProof{Event: auditEventJSON(&proof.Event), Leaf: base64.StdEncoding.EncodeToString(leaf),
		LeafHash: base64.StdEncoding.EncodeToString(lh[:]), Position: proof.Position, TreeSize: proof.TreeSize,
		Proof: make([]string, len(proof.Hashes)), Checkpoint: string(proof.Checkpoint)}
	for i, h := range proof.Hashes {
		out.Proof[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return c.JSON(http.StatusOK, out)
}
