package onboarding

import (
	"context"
	"github.com/orgscim/orgscim/orgs"
	"time"
)

// SetupLinkView is what the page of a usable setup link shows before the token is
// revealed: the connection, its org (whose brand the page wears) and when the link
// stops working.
type SetupLinkView struct {
	Connection *orgs.Connection
	Org        *orgs.Org
	Expires    time.Time
}

// SetupLinkView returns the view of an unused, unexpired link without using it; any
// other link is the same NotFound as SetupLinkConnection's.
func (s *Onboarding) SetupLinkView(ctx context.Context, secret string) (*SetupLinkView, error) {
	l, conn, err := s.usableLink(ctx, secret, s.now())
	if err != nil {
		return nil, err
	}
	org, err := s.Dir.Store.OrgByID(ctx, conn.OrgID)
	if err != nil {
		return nil, err
	}
	return &SetupLinkView{Connection: conn, Org: org, Expires: l.Expires}, nil
}

// ConnectionOrg returns the org a connection is bound to: after a reveal, the page
// still wears its brand.
func (s *Onboarding) ConnectionOrg(ctx context.Context, conn *orgs.Connection) (*orgs.Org, error) {
	return s.Dir.Store.OrgByID(ctx, conn.OrgID)
}
