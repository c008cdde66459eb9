package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/msp"
	"github.com/orgscim/orgscim/orgs"
)

// mspGroup is `orgscim msp`: engagements of managed service providers with their
// customers, and the technicians who act under them.
type mspGroup struct {
	Propose         mspProposeCmd         `cmd:"" help:"Propose that an MSP org administer a customer org outside its subtree."`
	ConsentCustomer mspConsentCustomerCmd `cmd:"" name:"consent-customer" help:"Consent for the customer, as its administrator (--key)."`
	ConsentVendor   mspConsentVendorCmd   `cmd:"" name:"consent-vendor" help:"Consent for the vendor, as an operator."`
	List            mspListCmd            `cmd:"" help:"List an org's engagements, as MSP or customer, with whether each is in force."`
	Show            mspShowCmd            `cmd:"" help:"Show one engagement and whether it is in force now."`
	Revoke          mspRevokeCmd          `cmd:"" help:"Revoke an engagement now, with its technicians' delegations."`
	Technician      struct {
		Add    mspTechnicianAddCmd    `cmd:"" help:"Name one of the MSP's people a technician for the customer (the MSP's administrator, --key)."`
		List   mspTechnicianListCmd   `cmd:"" help:"List the technician delegations of an engagement."`
		Revoke mspTechnicianRevokeCmd `cmd:"" help:"Revoke one technician's delegation now."`
	} `cmd:"" help:"Technicians: each MSP person's own delegation on the customer."`
}

// engagementView is an engagement as the CLI prints it: with its orgs' slugs and the
// rule's answer for it now.
type engagementView struct {
	e             *orgs.Engagement
	msp, customer string
	standing      error // nil: in force
}

func viewEngagement(ctx context.Context, svc *services, e *orgs.Engagement) (engagementView, error) {
	v := engagementView{e: e}
	for _, o := range []struct {
		id   string
		slug *string
	}{{e.MSPOrgID, &v.msp}, {e.CustomerOrgID, &v.customer}} {
		org, err := svc.dir.Store.OrgByID(ctx, o.id)
		if err != nil {
			return v, err
		}
		*o.slug = org.Slug
	}
	v.standing = svc.msps.Holds(ctx, e)
	if v.standing != nil && orgscim.ErrorCode(v.standing) != orgscim.Forbidden {
		return v, v.standing
	}
	return v, nil
}

func engagementJSON(v engagementView) map[string]any {
	e, standing := v.e, v.standing
	out := map[string]any{"id": e.ID, "msp": v.msp, "customer": v.customer, "capabilities": e.Capabilities,
		"reason": e.Reason, "proposed_by": e.ProposedBy, "proposed_at": e.Proposed, "expires_at": e.Expires,
		"customer_consent_by": e.CustomerConsentBy, "customer_consent_at": e.CustomerConsent, "vendor_consent_by": e.VendorConsentBy,
		"vendor_consent_at": e.VendorConsent, "revoked_at": e.Revoked, "revoked_by": e.RevokedBy, "revoke_reason": e.RevokeReason,
		"state": e.State(time.Now()), "in_force": standing == nil}
	if standing != nil {
		out["standing"] = cliError(standing).Error()
	}
	return out
}

func printEngagement(w io.Writer, v engagementView) {
	e, standing := v.e, v.standing
	caps := make([]string, len(e.Capabilities))
	for i, c := range e.Capabilities {
		caps[i] = string(c)
	}
	force := "in force"
	if standing != nil {
		force = "not in force: " + cliError(standing).Error()
	}
	fmt.Fprintf(w, "%s  %-8s msp %s customer %s  %s  (%s)\n", e.ID, e.State(time.Now()), v.msp, v.customer,
		strings.Join(caps, ","), force)
}

type ctxPrincipal struct {
	ctx context.Context
	p   orgs.Principal
}

// showEngagement prints e with the rule's answer for it now.
func (env *cliEnv) showEngagement(json bool, svc *services, ctx context.Context, e *orgs.Engagement) error {
	v, err := viewEngagement(ctx, svc, e)
	if err != nil {
		return cliError(err)
	}
	if json {
		return printJSON(env.stdout, engagementJSON(v))
	}
	printEngagement(env.stdout, v)
	return nil
}

type mspProposeCmd struct {
	MSP          string        `name:"msp" required:"" placeholder:"SLUG" help:"The MSP org."`
	Customer     string        `required:"" placeholder:"SLUG" help:"The customer org, outside the MSP's subtree."`
	Capabilities []string      `required:"" sep:"," placeholder:"CAP" help:"What technicians may be given: manage_members, manage_mappings, approve."`
	Expires      time.Duration `placeholder:"DURATION" help:"Lifetime, e.g. 2160h; 0 means until revoked."`
	Reason       string        `help:"Why the MSP administers the customer."`
	supportActor
	jsonFlag
}

func (mspProposeCmd) Help() string {
	return `Proposes an engagement: the MSP org administers the customer org through its
technicians, with these capabilities (never delegate). It holds nothing until the
customer's administrator (msp consent-customer) and the vendor (msp consent-vendor) both
consent. An operator (--as) or the MSP's administrator (--key) proposes.

Example:

    orgscim msp propose --msp northwind-it --customer acme --capabilities manage_members,approve --reason "managed IT contract 2027"`
}

func (c *mspProposeCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	caps := make([]orgs.Capability, len(c.Capabilities))
	for i, s := range c.Capabilities {
		caps[i] = orgs.Capability(strings.TrimSpace(s))
	}
	e, err := svc.msps.Propose(ctx, p, msp.EngagementRequest{MSP: c.MSP, Customer: c.Customer, Capabilities: caps,
		Expires: expiryIn(c.Expires), Reason: c.Reason})
	if err != nil {
		return cliError(err)
	}
	return env.showEngagement(c.JSON, svc, ctx, e)
}

// mspEngagementCmd is a command on one engagement, by id.
type mspEngagementCmd struct {
	ID string `arg:"" help:"The engagement's id."`
	supportActor
	jsonFlag
}

type (
	mspConsentCustomerCmd struct{ mspEngagementCmd }
	mspConsentVendorCmd   struct{ mspEngagementCmd }
	mspShowCmd            struct{ mspEngagementCmd }
)

func (mspConsentCustomerCmd) Help() string {
	return `The customer's consent, given by one of its administrators with their own admin API
key (--key or ORGSCIM_ADMIN_KEY). Never by the vendor, never by the MSP.

Example:

    orgscim msp consent-customer --key oscadm_... 01J...`
}

func (mspConsentVendorCmd) Help() string {
	return `The vendor's consent, given by an operator (--as NAME).

Example:

    orgscim msp consent-vendor --as alice 01J...`
}

func (mspShowCmd) Help() string {
	return `Shows an engagement, with whether the authority rule holds for it now (both
consents, not revoked or expired, both relationships active) and, if not, why.

Example:

    orgscim msp show 01J... --json`
}

func (c *mspConsentCustomerCmd) Run(env *cliEnv) error {
	return c.do(env, func(svc *services, ctxp ctxPrincipal) (*orgs.Engagement, error) {
		return svc.msps.ConsentCustomer(ctxp.ctx, ctxp.p, c.ID)
	})
}

func (c *mspConsentVendorCmd) Run(env *cliEnv) error {
	return c.do(env, func(svc *services, ctxp ctxPrincipal) (*orgs.Engagement, error) {
		return svc.msps.ConsentVendor(ctxp.ctx, ctxp.p, c.ID)
	})
}

func (c *mspShowCmd) Run(env *cliEnv) error {
	return c.do(env, func(svc *services, ctxp ctxPrincipal) (*orgs.Engagement, error) {
		return svc.msps.Get(ctxp.ctx, ctxp.p, c.ID)
	})
}

func (c *mspEngagementCmd) do(env *cliEnv, act func(svc *services, ctxp ctxPrincipal) (*orgs.Engagement, error)) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	e, err := act(svc, ctxPrincipal{ctx, p})
	if err != nil {
		return cliError(err)
	}
	return env.showEngagement(c.JSON, svc, ctx, e)
}

type mspListCmd struct {
	Org string `required:"" placeholder:"SLUG" help:"The org whose engagements to list, as MSP or as customer."`
	supportActor
	jsonFlag
}

func (mspListCmd) Help() string {
	return `Lists the engagements in which the org is the MSP or the customer, with whether each
is in force now.

Example:

    orgscim msp list --org acme`
}

func (c *mspListCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	var all []*orgs.Engagement
	for after := ""; ; {
		page, err := svc.msps.List(ctx, p, c.Org, after, 500)
		if err != nil {
			return cliError(err)
		}
		all = append(all, page...)
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	out := make([]map[string]any, 0, len(all))
	for _, e := range all {
		v, err := viewEngagement(ctx, svc, e)
		if err != nil {
			return cliError(err)
		}
		if c.JSON {
			out = append(out, engagementJSON(v))
		} else {
			printEngagement(env.stdout, v)
		}
	}
	if c.JSON {
		return printJSON(env.stdout, out)
	}
	return nil
}

type mspRevokeCmd struct {
	ID     string `arg:"" help:"The engagement's id."`
	Reason string `help:"Why it ends."`
	supportActor
	jsonFlag
}

func (mspRevokeCmd) Help() string {
	return `Revokes an engagement now: every technician's next request is refused. Their
delegations are revoked with it, and what they made on the customer goes back to the
customer's administrator who consented, for re-attestation. An operator (--as), or the
customer's or the MSP's administrator (--key).

Example:

    orgscim msp revoke --key oscadm_... 01J... --reason "contract ended"`
}

func (c *mspRevokeCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	rv, err := svc.msps.Revoke(ctx, p, c.ID, c.Reason)
	if err != nil {
		return cliError(err)
	}
	techs := rv.Technicians
	if techs == nil {
		techs = []string{}
	}
	if c.JSON {
		v, err := viewEngagement(ctx, svc, rv.Engagement)
		if err != nil {
			return cliError(err)
		}
		return printJSON(env.stdout, map[string]any{"engagement": engagementJSON(v), "technicians_revoked": techs,
			"handed_over_to": rv.To, "grants_handed_over": rv.Grants, "mappings_handed_over": rv.Mappings})
	}
	fmt.Fprintf(env.stdout, "revoked %s: %d technician delegation(s) revoked, %d grant(s) handed over for re-attestation\n",
		rv.Engagement.ID, len(techs), rv.Grants)
	return nil
}

type mspTechnicianAddCmd struct {
	ID           string        `arg:"" help:"The engagement's id."`
	Connection   string        `required:"" placeholder:"SLUG" help:"The technician's connection, one of the MSP's."`
	UserID       string        `name:"user-id" required:"" placeholder:"ID" help:"The technician's SCIM user id."`
	Capabilities []string      `required:"" sep:"," placeholder:"CAP" help:"Within the engagement's and your own delegation's."`
	Org          string        `placeholder:"SLUG" help:"An org of the customer's subtree (default: the customer)."`
	Expires      time.Duration `placeholder:"DURATION" help:"Lifetime; capped at your delegation's and the engagement's."`
	supportActor
	jsonFlag
}

func (mspTechnicianAddCmd) Help() string {
	return `Names one of the MSP's people a technician for the customer: their own delegation on
it, made under your delegation on the MSP (use your admin API key, --key), delegating
nothing further. It holds only while the engagement does; everything done through it is
audited as that person, naming the MSP and the customer. Issue their key with
POST /api/v1/delegations/{id}/keys, with your own key.

Example:

    orgscim msp technician add --key oscadm_... 01J... --connection northwind-it --user-id 2f1c... --capabilities manage_members`
}

func (c *mspTechnicianAddCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := svc.dir.Connection(ctx, c.Connection)
	if err != nil {
		return cliError(err)
	}
	caps := make([]orgs.Capability, len(c.Capabilities))
	for i, s := range c.Capabilities {
		caps[i] = orgs.Capability(strings.TrimSpace(s))
	}
	d, err := svc.msps.NameTechnician(ctx, p, c.ID, msp.TechnicianRequest{Org: c.Org, HolderConnectionID: conn.ID,
		HolderUserID: c.UserID, Capabilities: caps, Expires: expiryIn(c.Expires)})
	if err != nil {
		return cliError(err)
	}
	return env.printTechnicians(c.JSON, false, d)
}

type mspTechnicianListCmd struct {
	ID string `arg:"" help:"The engagement's id."`
	supportActor
	jsonFlag
}

func (mspTechnicianListCmd) Help() string {
	return `Lists the technician delegations of an engagement, revoked ones too.

Example:

    orgscim msp technician list 01J... --json`
}

func (c *mspTechnicianListCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	ds, err := svc.msps.Technicians(ctx, p, c.ID)
	if err != nil {
		return cliError(err)
	}
	return env.printTechnicians(c.JSON, true, ds...)
}

type mspTechnicianRevokeCmd struct {
	ID         string `arg:"" help:"The engagement's id."`
	Delegation string `required:"" placeholder:"ID" help:"The technician's delegation."`
	Reason     string `help:"Why."`
	supportActor
	jsonFlag
}

func (mspTechnicianRevokeCmd) Help() string {
	return `Revokes one technician's delegation now, with its keys; the engagement stays. An
operator (--as), or the customer's or the MSP's administrator (--key).

Example:

    orgscim msp technician revoke --key oscadm_... 01J... --delegation 01K... --reason "left the MSP"`
}

func (c *mspTechnicianRevokeCmd) Run(env *cliEnv) error {
	ctx, db, svc, p, err := c.start(env)
	if err != nil {
		return err
	}
	defer db.Close()
	d, err := svc.msps.RemoveTechnician(ctx, p, c.ID, c.Delegation, c.Reason)
	if err != nil {
		return cliError(err)
	}
	return env.printTechnicians(c.JSON, false, d)
}

func technicianJSON(d *orgs.Delegation) map[string]any {
	return map[string]any{"id": d.ID, "org_id": d.OrgID, "connection_id": d.HolderConnectionID, "user_id": d.HolderUserID,
		"capabilities": d.Capabilities, "parent_id": d.ParentID, "engagement": d.EngagementID, "granted_by": d.GrantedBy,
		"created_at": d.Created, "expires_at": d.Expires, "revoked_at": d.Revoked, "revoked_by": d.RevokedBy, "revoke_reason": d.RevokeReason}
}

// printTechnicians prints delegations: a JSON array when list, else one object.
func (env *cliEnv) printTechnicians(json, list bool, ds ...*orgs.Delegation) error {
	if json {
		if !list {
			return printJSON(env.stdout, technicianJSON(ds[0]))
		}
		out := make([]map[string]any, len(ds))
		for i, d := range ds {
			out[i] = technicianJSON(d)
		}
		return printJSON(env.stdout, out)
	}
	for _, d := range ds {
		state := "live"
		if d.Revoked != nil {
			state = "revoked"
		}
		caps := make([]string, len(d.Capabilities))
		for i, c := range d.Capabilities {
			caps[i] = string(c)
		}
		fmt.Fprintf(env.stdout, "%s  %-7s user %s/%s  %s\n", d.ID, state, d.HolderConnectionID, d.HolderUserID, strings.Join(caps, ","))
	}
	return nil
}
