package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
)

// parseDays is time.ParseDuration that also takes whole days ("90d"), the unit stale
// windows are thought of in.
func parseDays(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// connectionPolicyCmd shows the policy, or changes what its flags name: a nil field was
// not given.
type connectionPolicyCmd struct {
	Connection      string   `required:"" placeholder:"SLUG" help:"The connection's slug."`
	StaleAfter      *string  `placeholder:"DURATION|Nd" help:"Deactivate members their IdP has not written for this long, e.g. 90d; 0 turns it off."`
	GuardMaxChanges *int     `placeholder:"N" help:"Hold a pass that would revoke more grants or deactivate more members than this; 0: no limit."`
	GuardMaxShare   *float64 `placeholder:"F" help:"Hold a pass that would revoke more than this share (0..1) of the live grants or active members; 0: no limit."`
	DomainPolicy    *string  `placeholder:"refuse|quarantine" help:"A user outside the org's verified domains is refused, or stored quarantined (inactive) for review."`
	RequireVerified *bool    `name:"require-verified-domain" negatable:"" help:"Refuse SCIM user writes until the org holds a verified domain (on for onboarded partners)."`
	actor
	jsonFlag
}

func (connectionPolicyCmd) Help() string {
	return `Without a change, prints the policy. The stale window must be longer than the IdP's
full-sync cycle: Entra and Okta send only users that change.

Example:

    orgscim connection policy --connection acme
    orgscim connection policy --connection acme --stale-after 90d --guard-max-changes 200`
}

func (c *connectionPolicyCmd) Run(env *cliEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	ctx := c.ctx(env.ctx)
	u := orgs.PolicyUpdate{GuardMaxChanges: c.GuardMaxChanges, GuardMaxShare: c.GuardMaxShare, DomainPolicy: c.DomainPolicy,
		RequireVerifiedDomain: c.RequireVerified}
	if c.StaleAfter != nil {
		d, err := parseDays(*c.StaleAfter)
		if err != nil {
			return usagef("--stale-after: %v", err)
		}
		u.StaleAfter = &d
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	dir := newServices(db, nil).dir
	var p orgs.Policy
	if u == (orgs.PolicyUpdate{}) {
		p, err = dir.ConnectionPolicy(ctx, c.Connection)
	} else {
		p, err = dir.SetConnectionPolicy(ctx, c.Connection, audit.SourceOf(ctx).Actor, u)
	}
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"connection": c.Connection, "stale_after_seconds": int64(p.StaleAfter / time.Second),
			"guard_max_changes": p.GuardMaxChanges, "guard_max_share": p.GuardMaxShare, "domain_policy": p.DomainPolicy,
			"require_verified_domain": p.RequireVerifiedDomain})
	}
	stalePart := "off"
	if p.StaleAfter > 0 {
		stalePart = p.StaleAfter.String()
	}
	_, err = fmt.Fprintf(env.stdout, "connection %s: stale after %s; guardrail: %d changes, share %g per pass\n",
		c.Connection, stalePart, p.GuardMaxChanges, p.GuardMaxShare)
	if err == nil && p.DomainPolicy == orgs.DomainQuarantine {
		_, err = fmt.Fprintln(env.stdout, "users outside the org's verified domains are quarantined")
	}
	if err == nil && p.RequireVerifiedDomain {
		_, err = fmt.Fprintln(env.stdout, "users are refused until the org holds a verified domain")
	}
	return err
}
