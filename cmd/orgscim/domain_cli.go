package main

import (
	"fmt"
	"io"
	"time"

	"github.com/orgscim/orgscim/domains"
)

// domainJSON is what the commands print of a claim: the admin API's fields.
func domainJSON(c *domains.Claim) map[string]any {
	return map[string]any{"id": c.ID, "domain": c.Domain, "status": c.Status, "method": c.Method, "token": c.Token,
		"dns_record": domains.RecordName(c.Domain), "dns_value": domains.RecordValue(c.Token),
		"well_known_url": "https://" + c.Domain + domains.WellKnownPath, "created_at": c.Created,
		"verified_at": c.VerifiedAt, "last_checked_at": c.LastCheckedAt}
}

func printClaim(w io.Writer, c *domains.Claim) {
	checked := "never"
	if c.LastCheckedAt != nil {
		checked = c.LastCheckedAt.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s  %-30s %-8s %-5s checked %s\n", c.ID, c.Domain, c.Status, c.Method, checked)
}

type domainClaimCmd struct {
	Org    string `required:"" placeholder:"SLUG" help:"The org that claims the domain."`
	Domain string `arg:"" help:"The e-mail domain, e.g. acme.example."`
	actor
	jsonFlag
}

func (domainClaimCmd) Help() string {
	return `Claims an e-mail domain for an org and prints how to prove it: a DNS TXT record at
_orgscim-challenge.<domain> with the value orgscim-verification=<token>, or the token as
the body of https://<domain>/.well-known/orgscim-domain-verification. Then run
orgscim domain verify. Claiming again prints the same claim.

Example:

    orgscim domain claim --org acme acme.example`
}

func (c *domainClaimCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	cl, err := newServices(db, nil).domains.ClaimDomain(ctx, c.principal(), c.Org, c.Domain)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, domainJSON(cl))
	}
	fmt.Fprintf(env.stdout, "claim %s: %s is %s\npublish a TXT record  %s  \"%s\"\nor serve the token     %s\n  at https://%s%s\n",
		cl.ID, cl.Domain, cl.Status, domains.RecordName(cl.Domain), domains.RecordValue(cl.Token), cl.Token, cl.Domain, domains.WellKnownPath)
	return nil
}

type domainListCmd struct {
	Org string `required:"" placeholder:"SLUG" help:"The org whose claims to list."`
	actor
	jsonFlag
}

func (domainListCmd) Help() string {
	return `Lists an org's domain claims: pending, verified or lapsed.

Example:

    orgscim domain list --org acme --json`
}

func (c *domainListCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	cs, err := newServices(db, nil).domains.Claims(ctx, c.principal(), c.Org)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		out := make([]map[string]any, len(cs))
		for i, cl := range cs {
			out[i] = domainJSON(cl)
		}
		return printJSON(env.stdout, map[string]any{"claims": out})
	}
	for _, cl := range cs {
		printClaim(env.stdout, cl)
	}
	return nil
}

type domainVerifyCmd struct {
	Org string `required:"" placeholder:"SLUG" help:"The org of the claim."`
	ID  string `arg:"" help:"The claim's id (see orgscim domain list)."`
	actor
	jsonFlag
	dnsResolverFlag
}

func (domainVerifyCmd) Help() string {
	return `Checks a claim's proofs now. It verifies; a verified claim that no longer proves
lapses. Refused when another org holds the domain verified, or when neither DNS nor
HTTPS could be asked.

Example:

    orgscim domain verify --org acme --dns-resolver 127.0.0.1:5353 CLAIM_ID`
}

func (c *domainVerifyCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newServices(db, nil).domains
	svc.Proofs = domainProofs(c.DNSResolver)
	cl, err := svc.Verify(ctx, c.principal(), c.Org, c.ID)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, domainJSON(cl))
	}
	printClaim(env.stdout, cl)
	return nil
}

type domainRemoveCmd struct {
	Org string `required:"" placeholder:"SLUG" help:"The org of the claim."`
	ID  string `arg:"" help:"The claim's id."`
	actor
	jsonFlag
}

func (domainRemoveCmd) Help() string {
	return `Removes a claim. A verified domain is then free: other orgs' connections may
provision it, and this org links nothing by e-mail in it.

Example:

    orgscim domain remove --org acme CLAIM_ID`
}

func (c *domainRemoveCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := newServices(db, nil).domains.Remove(ctx, c.principal(), c.Org, c.ID); err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"removed": c.ID})
	}
	fmt.Fprintf(env.stdout, "removed claim %s\n", c.ID)
	return nil
}
