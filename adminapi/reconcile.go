package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
)

// Reconciler is what the admin API asks of the lifecycle reconciler: recorded passes
// and the approval of plans its guardrail held.
type Reconciler interface {
	RunWithHolds(ctx context.Context, id string) (*reconcile.Run, error)
	Approve(ctx context.Context, runID, by string, conns []string) (*reconcile.Run, error)
}

// ReconcileRun is a recorded reconciliation pass, or an approval that applied one's
// held plans.
type ReconcileRun struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind" enum:"pass,approval"`
	Approves   string          `json:"approves,omitempty" doc:"for an approval, the run whose held plans it applied"`
	State      string          `json:"state" enum:"running,done,failed"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	AsOf       time.Time       `json:"as_of" doc:"the time the pass judged expiry and staleness by"`
	Report     json.RawMessage `json:"report" doc:"rules with counts per connection and the first ids, the plans held by the guardrail (held: [...], with their state now), and the audit chain check"`
}

// ApproveRunRequest picks the held plans to apply.
type ApproveRunRequest struct {
	Connections []string `json:"connections,omitempty" doc:"connection slugs; absent applies every plan the run still holds"`
}

// ConnectionPolicy is a connection's lifecycle policy.
type ConnectionPolicy struct {
	StaleAfterSeconds int64   `json:"stale_after_seconds" doc:"deactivate a member its IdP has not written for this long; 0: off"`
	GuardMaxChanges   int     `json:"guard_max_changes" doc:"a pass holding more grant revocations or member deactivations than this in the connection is held for approval; 0: no limit"`
	GuardMaxShare     float64 `json:"guard_max_share" doc:"the same as a share (0 to 1) of the connection's live grants or active members; 0: no limit"`
	DomainPolicy      string  `json:"domain_policy" enum:"refuse,quarantine" doc:"a user outside the org's verified domains is refused (400), or stored quarantined: inactive until released"`
	RequireVerified   bool    `json:"require_verified_domain" doc:"SCIM user writes are refused (403) until the org holds a verified domain; on for connections made by onboarding"`
}

// UpdatePolicyRequest changes some fields of a policy; absent fields stay.
type UpdatePolicyRequest struct {
	StaleAfterSeconds *int64   `json:"stale_after_seconds,omitempty" doc:"0 (off), or at least 86400"`
	GuardMaxChanges   *int     `json:"guard_max_changes,omitempty"`
	GuardMaxShare     *float64 `json:"guard_max_share,omitempty"`
	DomainPolicy      *string  `json:"domain_policy,omitempty" doc:"refuse or quarantine"`
	RequireVerified   *bool    `json:"require_verified_domain,omitempty"`
}

// reconciler is the reconciler for an operator's request.
func (s *Server) reconciler(c echo.Context) (Reconciler, error) {
	if err := operatorOnly(principal(c)); err != nil {
		return nil, err
	}
	if s.Reconciler == nil {
		return nil, orgscim.Errorf(orgscim.NotImplemented, "this server does not run the reconciler")
	}
	return s.Reconciler, nil
}

// replyRun answers with a run, or with err.
func replyRun(c echo.Context, run *reconcile.Run, err error) error {
	if err != nil {
		return err
	}
	report, err := json.Marshal(run.Report)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ReconcileRun{ID: run.ID, Kind: run.Kind, Approves: run.Approves, State: run.State,
		StartedAt: run.Started, FinishedAt: run.Finished, AsOf: run.AsOf, Report: report})
}

func (s *Server) getReconcileRun(c echo.Context) error {
	rec, err := s.reconciler(c)
	if err != nil {
		return err
	}
	run, err := rec.RunWithHolds(c.Request().Context(), c.Param("id"))
	return replyRun(c, run, err)
}

func (s *Server) approveReconcileRun(c echo.Context) error {
	ctx := c.Request().Context()
	rec, err := s.reconciler(c)
	if err != nil {
		return err
	}
	var req ApproveRunRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	var conns []string
	for _, slug := range req.Connections {
		conn, err := s.Directory.Connection(ctx, slug)
		if err != nil {
			return err
		}
		conns = append(conns, conn.ID)
	}
	run, err := rec.Approve(ctx, c.Param("id"), audit.SourceOf(ctx).Actor, conns)
	return replyRun(c, run, err)
}

func policyJSON(p orgs.Policy) ConnectionPolicy {
	return ConnectionPolicy{int64(p.StaleAfter / time.Second), p.GuardMaxChanges, p.GuardMaxShare, p.DomainPolicy, p.RequireVerifiedDomain}
}

func (s *Server) getConnectionPolicy(c echo.Context) error {
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	p, err := s.Directory.ConnectionPolicy(c.Request().Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, policyJSON(p))
}

func (s *Server) updateConnectionPolicy(c echo.Context) error {
	ctx := c.Request().Context()
	if err := operatorOnly(principal(c)); err != nil {
		return err
	}
	var req UpdatePolicyRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	var u orgs.PolicyUpdate
	if req.StaleAfterSeconds != nil {
		if *req.StaleAfterSeconds < 0 || *req.StaleAfterSeconds > int64(100*365*24*3600) {
			return orgscim.Errorf(orgscim.Invalid, "stale_after_seconds must be between 0 and 100 years")
		}
		d := time.Duration(*req.StaleAfterSeconds) * time.Second
		u.StaleAfter = &d
	}
	u.GuardMaxChanges, u.GuardMaxShare, u.DomainPolicy = req.GuardMaxChanges, req.GuardMaxShare, req.DomainPolicy
	u.RequireVerifiedDomain = req.RequireVerified
	p, err := s.Directory.SetConnectionPolicy(ctx, c.Param("slug"), audit.SourceOf(ctx).Actor, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, policyJSON(p))
}
