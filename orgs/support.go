package orgs

import (
	"strings"
	"time"

	"github.com/orgscim/orgscim"
)

// SupportScope is the support session an operator key acts in for one request (package
// support opens, approves and ends sessions; this is what the authority rule needs of
// one): which org's subtree it reaches, whether it may change anything, and until when.
type SupportScope struct {
	SessionID string
	Staff     string // the operator's name: the staff member the session was opened for
	Ticket    string
	OrgID     string
	OrgSlug   string
	OrgPath   string
	Write     bool
	Expires   time.Time
}

// PartnerData reports whether what lies on org is a partner's: the partner's own org
// and its subsidiaries. The vendor's own orgs (its root and its business units) are not.
func (o *Org) PartnerData() bool { return o.Kind == KindPartner || o.Kind == KindSubsidiary }

// OperatorReach is the rule for an operator key acting on org, evaluated wherever an
// operator is authorised on an org (Delegations.Authorize, and the admin API's reads):
// an unconfined operator (the support policy is off, or the CLI) reaches every org; a
// confined one reaches the vendor's own orgs, and a partner's only inside the subtree of
// the support session it acts in, and only until that session expires — compared with
// the clock now, so an expired session authorises nothing even before the reconciler
// has recorded its end.
func OperatorReach(p Principal, org *Org, now time.Time) error {
	if p.Operator == "" || !p.Confined {
		return nil
	}
	sc := p.Support
	if sc == nil {
		if !org.PartnerData() {
			return nil
		}
		return orgscim.Errorf(orgscim.Forbidden, "org %s is a partner's: operator keys act on a partner's data only in a support session "+
			"(open one with POST /api/v1/support-sessions and send its id in the %s header)", org.Slug, SupportSessionHeader)
	}
	if !now.Before(sc.Expires) {
		return orgscim.Errorf(orgscim.Forbidden, "support session %s has ended", sc.SessionID)
	}
	if !org.PartnerData() {
		return nil
	}
	if !strings.HasPrefix(org.Path, sc.OrgPath) {
		return orgscim.Errorf(orgscim.Forbidden, "org %s lies outside the scope of support session %s (org %s and its subtree)",
			org.Slug, sc.SessionID, sc.OrgSlug)
	}
	return nil
}

// RefuseWrite refuses a change made in a read-only support session.
func (sc *SupportScope) RefuseWrite() error {
	if sc == nil || sc.Write {
		return nil
	}
	return orgscim.Errorf(orgscim.Forbidden, "support session %s is read-only: it reads org %s's data and changes nothing; "+
		"ask for a session with write access", sc.SessionID, sc.OrgSlug)
}

// SupportSessionHeader carries the id of the support session an operator key acts in.
const SupportSessionHeader = "Orgscim-Support-Session"

// Unconfined is p with the support policy lifted: for what only the vendor does and no
// partner's data yet exists for, such as creating a partner through onboarding.
func (p Principal) Unconfined() Principal {
	p.Confined = false
	return p
}
