package console

import (
	"context"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/imports"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/webhooks"
)

// HealthReader reads the stored health and request log of connections
// (sqlstore.Health does; the admin API reads the same).
type HealthReader interface {
	Health(ctx context.Context, connectionID string) (*connhealth.Health, error)
	RequestLog(ctx context.Context, connectionID string, limit int) ([]connhealth.Logged, error)
}

// Webhooks is what the console shows and does of webhook subscriptions:
// webhooks.Subscriptions lists and disables (audited), the store lists deliveries.
type Webhooks interface {
	List(ctx context.Context) ([]webhooks.Subscription, error)
	Disable(ctx context.Context, id string) (*webhooks.Subscription, error)
	// NewestDeliveries lists a subscription's newest deliveries, newest first, and
	// counts them all.
	NewestDeliveries(ctx context.Context, subscriptionID string, limit int) ([]webhooks.DeliveryStatus, int, error)
}

// Reconciler is the reconciler's recorded runs and the approval of held plans
// (sqlstore.Reconcile with reconcile.Reconciler, as the admin API has them).
type Reconciler interface {
	Runs(ctx context.Context, limit int) ([]*reconcile.Run, error)
	RunWithHolds(ctx context.Context, id string) (*reconcile.Run, error)
	Approve(ctx context.Context, runID, by string, conns []string) (*reconcile.Run, error)
}

// AuditReader lists audit events (sqlstore.AuditLog does).
type AuditReader interface {
	Events(ctx context.Context, q audit.Query) ([]audit.Event, error)
}

// Ops are the services behind the operations pages: connection health, webhooks, the
// reconciler, audit search and spreadsheet import. A nil one leaves its pages out
// (they answer 501).
type Ops struct {
	Health     HealthReader
	Webhooks   Webhooks
	Reconciler Reconciler
	Audit      AuditReader
	Imports    *imports.Importer
	// TokenExpiryWarning is how long before a token lapses the health page warns
	// (0: orgs.DefaultTokenExpiryWarning), as for the admin API.
	TokenExpiryWarning time.Duration

	importJobs sync.Map // id → *importJob: the imports applying or applied here
}

func (s *Server) registerOps(g *echo.Group) {
	g.GET("/connections/:conn/health", s.authed(s.healthPage))
	g.GET("/webhooks", s.authed(s.webhooksPage))
	g.GET("/webhooks/:id", s.authed(s.webhookPage))
	g.POST("/webhooks/:id/disable", s.authed(s.disableWebhook))
	g.GET("/reconciler", s.authed(s.runsPage))
	g.GET("/reconciler/runs/:id", s.authed(s.runPage))
	g.POST("/reconciler/runs/:id/approve", s.authed(s.approveRun))
	g.GET("/audit", s.authed(s.auditPage))
	g.GET("/audit.csv", s.authed(s.auditCSV))
	g.GET("/imports", s.authed(s.importPage))
	g.POST("/imports/check", s.authed(s.checkImport))
	g.POST("/imports/apply", s.authed(s.applyImport))
	g.GET("/imports/jobs/:id", s.authed(s.importJob))
}

// Operates: the person is an operator (the nav shows the operators' pages).
func (v view) Operates() bool { return v.Person != nil && v.Person.Operator != "" }

// Imports: the person may import a spreadsheet, as far as the console can tell before
// reading the file: an operator, or a delegate who manages members somewhere. The
// importer judges every line again.
func (v view) Imports() bool {
	if v.Person == nil {
		return false
	}
	return importer(v.Person) != nil
}

// operatorOnly refuses anyone but an operator, as the admin API's operatorOnly does.
func operatorOnly(p *sessions.Person) error {
	if p.Operator == "" {
		return orgscim.Errorf(orgscim.Forbidden, "only the vendor's operators may do this")
	}
	return nil
}

// importer is the authority an import runs with: an operator's, or the first of the
// delegate's delegations that may manage members (nil when none).
func importer(p *sessions.Person) *orgs.Principal {
	if p.Operator != "" {
		return &orgs.Principal{Operator: p.Operator}
	}
	for _, h := range p.Delegations {
		if h.Delegation.Has(orgs.CapManageMembers) {
			return &orgs.Principal{Delegation: h.Delegation}
		}
	}
	return nil
}

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
