package main

// Partner onboarding from the terminal: propose, approve, reject, list and show
// onboarding requests, and create setup links. The CLI acts as the operator
// "cli:<OS user>", so the person who proposed a partner cannot approve it from the same
// account: a second person approves, here or through the admin API.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/onboarding"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/setuppage"
)

// DefaultPublicURL is where setup links point unless --base-url or ORGSCIM_PUBLIC_URL
// says otherwise: the address `make run` serves.
const DefaultPublicURL = "http://127.0.0.1:8080"

type onboardingProposeCmd struct {
	File string `required:"" placeholder:"FILE|-" help:"The proposal as JSON, as POST /api/v1/onboarding takes it; - for standard input."`
	actor
	jsonFlag
}

func (onboardingProposeCmd) Help() string {
	return `A proposal creates nothing; another operator approves it (the proposer is refused).
The file holds the JSON of POST /api/v1/onboarding (see the README, "Partner
onboarding"), for example:

    {"name": "Globex", "slug": "globex", "parent": "vendor", "idp": "okta",
     "owner": "ops@vendor.example", "admin_user_name": "it@globex.example",
     "mappings": [{"group": "Globex Billing", "role": "billing.viewer"}]}

Two operators sharing one account name themselves with --as, so that the four-eyes
rule holds:

    orgscim onboarding propose --file globex.json --as alice
    orgscim onboarding approve --id ID --as bob`
}

func (c *onboardingProposeCmd) Run(env *cliEnv) error {
	if err := c.validate(); err != nil {
		return err
	}
	ctx := c.ctx(env.ctx)
	var raw []byte
	var err error
	if c.File == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(c.File)
	}
	if err != nil {
		return err
	}
	var req adminapi.ProposeOnboardingRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("onboarding propose: %s is not a proposal: %v", c.File, err)
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := newServices(db, nil).onboarding.Propose(ctx, c.principal(), req.Proposal(), req.Parent)
	if err != nil {
		return cliError(err)
	}
	return printOnboarding(ctx, env.stdout, db.Orgs(), r, c.JSON)
}

// onboardingDecision is what approve and reject take.
type onboardingDecision struct {
	ID     string `name:"id" required:"" help:"The request's id."`
	Reason string `placeholder:"TEXT" help:"Why."`
	actor
	jsonFlag
}

type onboardingApproveCmd struct{ onboardingDecision }

type onboardingRejectCmd struct{ onboardingDecision }

func (onboardingApproveCmd) Help() string {
	return `Approval creates, in one transaction with its audit events, the org, its connection
(pending, no token), the first administrator with a delegation, and each mapping as a
draft. The proposer cannot approve: a second operator does, here (--as NAME names them
when several share an account) or through the admin API.

Example:

    orgscim onboarding approve --id 2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d --as bob`
}

func (onboardingRejectCmd) Help() string {
	return `Example:

    orgscim onboarding reject --id 2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d --reason "no contract yet"`
}

func (c *onboardingApproveCmd) Run(env *cliEnv) error { return c.decide(env, true) }

func (c *onboardingRejectCmd) Run(env *cliEnv) error { return c.decide(env, false) }

func (c *onboardingDecision) decide(env *cliEnv, approve bool) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newServices(db, nil).onboarding
	decide := svc.Reject
	if approve {
		decide = svc.Approve
	}
	r, err := decide(ctx, c.principal(), c.ID, c.Reason)
	if err != nil {
		return cliError(err)
	}
	return printOnboarding(ctx, env.stdout, db.Orgs(), r, c.JSON)
}

type onboardingListCmd struct {
	State string `placeholder:"proposed|approved|rejected" completion:"proposed approved rejected" help:"Only the requests in this state; empty for all."`
	jsonFlag
}

func (onboardingListCmd) Help() string {
	return `Example:

    orgscim onboarding list --state proposed`
}

func (c *onboardingListCmd) Run(env *cliEnv) error {
	ctx := env.ctx
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	rs, err := newServices(db, nil).onboarding.List(ctx, cliPrincipal(), c.State, "", 1000)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		out, err := onboardingsJSON(ctx, db.Orgs(), rs)
		if err != nil {
			return err
		}
		return printJSON(env.stdout, out)
	}
	for _, r := range rs {
		fmt.Fprintf(env.stdout, "%s  %-8s  %-24s  proposed by %s at %s\n", r.ID, r.State, r.OrgSlug, r.ProposedBy,
			r.Proposed.Format(time.RFC3339))
	}
	return nil
}

type onboardingShowCmd struct {
	ID string `name:"id" required:"" help:"The request's id."`
	jsonFlag
}

func (onboardingShowCmd) Help() string {
	return `Example:

    orgscim onboarding show --id 2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d --json`
}

func (c *onboardingShowCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := newServices(db, nil).onboarding.OnboardingFor(env.ctx, cliPrincipal(), c.ID)
	if err != nil {
		return cliError(err)
	}
	return printOnboarding(env.ctx, env.stdout, db.Orgs(), r, c.JSON)
}

// onboardingsJSON is the requests as the admin API shows them, their parents read in one
// query.
func onboardingsJSON(ctx context.Context, st orgs.Store, rs []*onboarding.OnboardingRequest) ([]adminapi.Onboarding, error) {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ParentID
	}
	parents, err := st.OrgsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.Onboarding, len(rs))
	for i, r := range rs {
		p := parents[r.ParentID]
		if p == nil {
			return nil, fmt.Errorf("onboarding request %s: no parent org %s", r.ID, r.ParentID)
		}
		out[i] = adminapi.OnboardingOf(r, p.Slug)
	}
	return out, nil
}

func printOnboarding(ctx context.Context, w io.Writer, st orgs.Store, r *onboarding.OnboardingRequest, asJSON bool) error {
	if asJSON {
		out, err := onboardingsJSON(ctx, st, []*onboarding.OnboardingRequest{r})
		if err != nil {
			return err
		}
		return printJSON(w, out[0])
	}
	fmt.Fprintf(w, "onboarding request %s: %s, org %s (connection %s, %s), first administrator %s\n",
		r.ID, r.State, r.OrgSlug, r.ConnectionSlug, r.IdP, r.AdminUserName)
	if r.State == onboarding.OnboardingApproved {
		fmt.Fprintf(w, "created org %s, connection %s (pending), delegation %s; next: orgscim setup-link create --connection %s\n",
			r.OrgID, r.ConnectionID, r.DelegationID, r.ConnectionSlug)
	}
	return nil
}

type setupLinkCreateCmd struct {
	Connection string        `required:"" placeholder:"SLUG" help:"The connection's slug."`
	TTL        time.Duration `name:"ttl" default:"72h" placeholder:"DURATION" help:"How long the link works, at most 720h."`
	BaseURL    string        `name:"base-url" env:"ORGSCIM_PUBLIC_URL" default:"${default_public_url}" placeholder:"URL" help:"The server's public URL."`
	actor
	jsonFlag
}

func (setupLinkCreateCmd) Help() string {
	return `The page shows the SCIM base URL, the IdP's steps and one fresh token, revealed
once. The URL is printed once.

Example:

    orgscim setup-link create --connection globex --ttl 48h --base-url https://scim.vendor.example`
}

func (c *setupLinkCreateCmd) Run(env *cliEnv) error {
	if c.TTL <= 0 {
		return usagef("--ttl must be positive")
	}
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	l, secret, err := newServices(db, nil).onboarding.CreateSetupLink(ctx, c.principal(), c.Connection, c.TTL)
	if err != nil {
		return cliError(err)
	}
	url := strings.TrimSuffix(c.BaseURL, "/") + setuppage.Prefix + secret
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": l.ID, "connection": c.Connection, "url": url, "expires_at": l.Expires.Format(time.RFC3339)})
	}
	fmt.Fprintf(env.stdout, "setup link %s for connection %s, until %s\nURL (shown once): %s\n", l.ID, c.Connection,
		l.Expires.Format(time.RFC3339), url)
	return nil
}
