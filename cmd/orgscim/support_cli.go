package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/support"
)

// supportGroup is `orgscim support`: sessions of the vendor's staff on partners' data,
// and the deployment's support policy.
type supportGroup struct {
	Open    supportOpenCmd    `cmd:"" help:"Ask for a support session on a partner org (or break the glass)."`
	Approve supportApproveCmd `cmd:"" help:"Approve a requested session, as a partner administrator (--key)."`
	Refuse  supportRefuseCmd  `cmd:"" help:"Refuse a requested session, as a partner administrator (--key)."`
	List    supportListCmd    `cmd:"" help:"List the support sessions on an org."`
	End     supportEndCmd     `cmd:"" help:"End a requested or active session now."`
	Review  supportReviewCmd  `cmd:"" help:"Review a break-glass session once it is over."`
	Policy  supportPolicyCmd  `cmd:"" help:"Show or change the support policy: required sessions, maximum duration."`
}

// supportActor acts as the CLI's operator, or, with --key, as the holder of an admin API
// key: a partner administrator decides with their own key, never through the operator.
type supportActor struct {
	actor
	Key string `env:"ORGSCIM_ADMIN_KEY" placeholder:"oscadm_..." help:"Act as this admin API key's holder (a partner administrator's delegate key) instead of as the CLI's operator."`
}

func (a supportActor) start(env *cliEnv) (context.Context, *sqlstore.DB, *services, orgs.Principal, error) {
	ctx, db, err := a.act(env)
	if err != nil {
		return nil, nil, nil, orgs.Principal{}, err
	}
	svc := newServices(db, nil)
	p := a.principal()
	if a.Key != "" {
		if p, err = svc.keys.Authenticate(ctx, a.Key); err != nil {
			db.Close()
			return nil, nil, nil, orgs.Principal{}, cliError(err)
		}
		ctx = audit.WithSource(ctx, audit.Source{Actor: "admin_key:" + p.KeyID + " " + p.Name(), ClientAddr: "cli:" + osUser()})
	}
	return ctx, db, svc, p, nil
}

func sessionJSON(ss *support.Session) map[string]any {
	return map[string]any{"id": ss.ID, "org_id": ss.OrgID, "staff": ss.Staff, "ticket": ss.Ticket, "reason": ss.Reason,
		"write": ss.Write, "break_glass": ss.BreakGlass, "state": ss.State, "duration_seconds": int64(ss.Duration / time.Second),
		"requested_at": ss.Requested, "decided_by": ss.DecidedBy, "expires_at": ss.Expires, "ended_at": ss.EndedAt,
		"ended_by": ss.EndedBy, "end_reason": ss.EndReason, "review_required": ss.ReviewOwed(), "reviewed_by": ss.ReviewedBy,
		"review_note": ss.ReviewNote}
}

func printSession(w io.Writer, ss *support.Session) {
	mode := "read-only"
	if ss.Write {
		mode = "write"
	}
	until := "-"
	if ss.Expires != nil {
		until = ss.Expires.Format(time.RFC3339)
	}
	extra := ""
	if ss.ReviewOwed() {
		extra = "  REVIEW OWED"
	}
	fmt.Fprintf(w, "%s  %-9s %-9s staff %s ticket %s until %s%s\n", ss.ID, ss.State, mode, ss.Staff, ss.Ticket, until, extra)
}

func (e *cliEnv) printSession(json bool, ss *support.Session) error {
	if json {
		return printJSON(e.stdout, sessionJSON(ss))
	}
	printSession(e.stdout, ss)
	return nil
}

type supportOpenCmd struct {
	Org        string        `required:"" placeholder:"SLUG" help:"The partner org (its subtree is the session's scope)."`
	Ticket     string        `required:"" placeholder:"REF" help:"The support ticket's reference."`
	Reason     string        `required:"" help:"Why the partner's data must be reached."`
	Duration   time.Duration `default:"1h" help:"How long, once active; at most the policy's maximum."`
	Write      bool          `help:"Ask for write access (read-only by default)."`
	BreakGlass bool          `name:"break-glass" help:"Active at once, without approval: the partner is notified and a review is owed."`
	supportActor
	jsonFlag
}

func (supportOpenCmd) Help() string {
	return `Asks for a support session for the operator (--as NAME, the name of their operator
key): it waits for one of the partner's administrators to approve it. With --break-glass it
is active at once; the partner is told (event support.break_glass) and the session owes a
review once it is over. Use it with the admin API by sending its id in the
Orgscim-Support-Session header.

Example:

    orgscim support open --as alice --org acme --ticket SUP-1042 --reason "SSO users missing" --duration 2h`
}

func (c *supportOpenCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	ss, err := svc.support.Open(ctx, p, support.OpenRequest{Org: c.Org, Ticket: c.Ticket, Reason: c.Reason, Write: c.Write,
		Duration: c.Duration, BreakGlass: c.BreakGlass})
	if err != nil {
		return cliError(err)
	}
	return env.printSession(c.JSON, ss)
}

// supportDecideCmd is approve, refuse, end and review: a session id and a note.
type supportDecideCmd struct {
	ID   string `arg:"" help:"The support session's id."`
	Note string `help:"Recorded with the decision; a review needs one."`
	supportActor
	jsonFlag
}

func (supportApproveCmd) Help() string {
	return `A partner administrator's decision, made with their own admin API key (--key or
ORGSCIM_ADMIN_KEY): the session is active from now for its duration.

Example:

    orgscim support approve --key oscadm_... 01J... --note "go ahead"`
}

func (supportRefuseCmd) Help() string {
	return `A partner administrator's decision, made with their own admin API key (--key or
ORGSCIM_ADMIN_KEY): the session never opens.

Example:

    orgscim support refuse --key oscadm_... 01J... --note "not without a call first"`
}

func (supportEndCmd) Help() string {
	return `Ends a requested or active session now: the staff's operator (--as) or a partner
administrator (--key). Sessions also end by themselves at their expiry.

Example:

    orgscim support end --as alice 01J... --note "ticket solved"`
}

func (supportReviewCmd) Help() string {
	return `Every break-glass session owes a review once it is over: by a partner administrator
(--key), or by an operator other than the one who opened it (--as).

Example:

    orgscim support review --as bob 01J... --note "outage SUP-1042; only read the users"`
}

type (
	supportApproveCmd struct{ supportDecideCmd }
	supportRefuseCmd  struct{ supportDecideCmd }
	supportEndCmd     struct{ supportDecideCmd }
	supportReviewCmd  struct{ supportDecideCmd }
)

type sessionDecision func(s *support.Service) func(context.Context, orgs.Principal, string, string) (*support.Session, error)

func (c *supportApproveCmd) Run(env *cliEnv) error {
	return c.decide(env, func(s *support.Service) func(context.Context, orgs.Principal, string, string) (*support.Session, error) {
		return s.Approve
	})
}

func (c *supportRefuseCmd) Run(env *cliEnv) error {
	return c.decide(env, func(s *support.Service) func(context.Context, orgs.Principal, string, string) (*support.Session, error) {
		return s.Refuse
	})
}

func (c *supportEndCmd) Run(env *cliEnv) error {
	return c.decide(env, func(s *support.Service) func(context.Context, orgs.Principal, string, string) (*support.Session, error) {
		return s.End
	})
}

func (c *supportReviewCmd) Run(env *cliEnv) error {
	return c.decide(env, func(s *support.Service) func(context.Context, orgs.Principal, string, string) (*support.Session, error) {
		return s.Review
	})
}

func (c *supportDecideCmd) decide(env *cliEnv, act sessionDecision) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	ss, err := act(svc.support)(ctx, p, c.ID, c.Note)
	if err != nil {
		return cliError(err)
	}
	return env.printSession(c.JSON, ss)
}

type supportListCmd struct {
	Org string `required:"" placeholder:"SLUG" help:"The org whose sessions to list."`
	supportActor
	jsonFlag
}

func (supportListCmd) Help() string {
	return `Lists the support sessions on an org, with their state and whether a review is owed.

Example:

    orgscim support list --org acme`
}

func (c *supportListCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	var all []*support.Session
	for after := ""; ; {
		page, err := svc.support.List(ctx, p, c.Org, after, 500)
		if err != nil {
			return cliError(err)
		}
		all = append(all, page...)
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	if c.JSON {
		out := make([]map[string]any, len(all))
		for i, ss := range all {
			out[i] = sessionJSON(ss)
		}
		return printJSON(env.stdout, out)
	}
	for _, ss := range all {
		printSession(env.stdout, ss)
	}
	return nil
}

type supportPolicyCmd struct {
	Required    *bool          `help:"true: operator keys act on a partner's data only in a support session; false: as before the policy."`
	MaxDuration *time.Duration `name:"max-duration" help:"The longest session (1m to 720h)."`
	actor
	jsonFlag
}

func (supportPolicyCmd) Help() string {
	return `Shows the support policy, or changes it (audited as support.policy). A new deployment
starts with sessions required; one that existed before the policy starts without, so that
its operators' scripts keep working until it is turned on.

Example:

    orgscim support policy --required=true --max-duration 4h`
}

func (c *supportPolicyCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newServices(db, nil)
	var p support.Policy
	if c.Required == nil && c.MaxDuration == nil {
		p, err = svc.support.Policy(ctx)
	} else {
		p, err = svc.support.SetPolicy(ctx, "operator:"+c.name(), c.Required, c.MaxDuration)
	}
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"required": p.Required, "max_duration_seconds": int64(p.MaxDuration / time.Second),
			"updated_at": p.Updated, "updated_by": p.UpdatedBy})
	}
	fmt.Fprintf(env.stdout, "support sessions required: %t\nmaximum duration: %s\n", p.Required, p.MaxDuration)
	return nil
}
