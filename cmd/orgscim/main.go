// Command orgscim is the orgscim server and its operator CLI. See `orgscim help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `orgscim — SCIM 2.0 provisioning for B2B partner organisations

Usage:
  orgscim serve [--addr HOST:PORT] [--rate-limit N] [--rate-burst N] [--request-timeout DUR]
                                                   run the HTTP server: SCIM, the admin API
                                                   /api/v1, /healthz, /readyz, /metrics
                                                   (see orgscim serve -h)
  orgscim org create --name NAME [--slug SLUG] [--parent SLUG] [--json]
  orgscim org update --slug SLUG [--status pending|active|suspended|ended] [--contract-start RFC3339|none]
                     [--contract-end RFC3339|none] [--grace DURATION] [--owner OWNER] [--kind KIND]
                     [--name NAME] [--json]
                                                   change an org's relationship; an ended or past
                                                   contract removes its whole subtree's access
  orgscim org move --slug SLUG --parent SLUG       re-parent an org with its subtree
  orgscim connection create --org SLUG [--slug SLUG] [--idp entra|okta|generic] [--json]
  orgscim token create --connection SLUG [--expires DURATION] [--json]
  orgscim token list --connection SLUG [--json]
  orgscim token revoke --connection SLUG --id TOKEN_ID
  orgscim role create --key KEY --permission P [--permission P2 ...] [--description TEXT]
                      [--privileged --max-duration DURATION] [--inherits] [--json]
  orgscim access check --connection SLUG --user USER_ID --permission P --org SLUG [--json]
                                                   allow or deny, with the chain behind it
  orgscim apikey create --operator NAME [--expires DURATION] [--json]
                                                   issue an operator key for the admin API
  orgscim apikey revoke --id KEY_ID
  orgscim audit verify [--checkpoint FILE ...] [--public-key KEY ...] [--json]
                                                   rebuild the audit log's Merkle tree; name each
                                                   modified or deleted event; prove the log extends
                                                   each checkpoint given; exit 1 when anything fails
  orgscim audit checkpoint                         print the latest signed checkpoint
  orgscim audit public-key [--audit-key FILE]      print the log's public key (for auditors, witnesses)
  orgscim audit seal [--audit-key FILE]            seal pending events now (serve does it every 250 ms)
  orgscim audit export --org SLUG --from T --to T [--out FILE]
                                                   an evidence bundle: events, inclusion proofs,
                                                   checkpoint, public key
  orgscim audit verify-bundle FILE [--public-key KEY]
                                                   check a bundle offline; exit 1 when it fails
  orgscim webhook create [--connection SLUG] --url URL [--actions user.,grant.] [--json]
                                                   send a connection's (or, without --connection,
                                                   the control plane's) events, signed, to URL;
                                                   prints the signing secret once
  orgscim webhook list [--json]
  orgscim webhook disable --id ID
  orgscim webhook revocations [--since DURATION] [--json]
                                                   time to revoke per connection: from the
                                                   request to the last subscriber's acknowledgement
  orgscim reconcile [--dry-run] [--json]           one lifecycle pass: revoke expired grants and
                                                   delegations, offboard ended partners,
                                                   deactivate stale members, repair drift,
                                                   verify the audit chains
  orgscim reconcile show RUN [--json]              a recorded pass and what it did
  orgscim reconcile approve RUN [--connection SLUG ...] [--json]
                                                   apply the plans the guardrail held in RUN
  orgscim connection policy --connection SLUG [--stale-after DURATION|Nd] [--guard-max-changes N]
                            [--guard-max-share F] [--json]
                                                   show or change a connection's lifecycle policy
  orgscim migrate                                  apply pending database migrations and exit
  orgscim load --url BASE --token TOKEN [--users N] [--concurrency C] [--phases create,get,...]
                                                   drive a SCIM base URL and print requests/s and
                                                   p50/p99 per phase as JSON
  orgscim review create --org SLUG --name NAME --deadline RFC3339|DURATION
                        [--description TEXT] [--json]
                                                   start an access review of the org's subtree:
                                                   reviewers confirm or revoke each grant by the
                                                   deadline (/api/v1/reviews)
  orgscim review list [--org SLUG] [--state open|closed|cancelled] [--json]
  orgscim review show REVIEW [--json]
  orgscim review close-due [--dry-run] [--json]    close the reviews past their deadline now,
                                                   revoking what nobody confirmed (the
                                                   reconciler does it on its pass)
  orgscim import FILE [--dry-run] [--json]         import a CSV spreadsheet of orgs, people and
                                                   roles (see README); every problem by line;
                                                   exit 1 when the file has any
  orgscim export access [--org SLUG] [--out FILE]  current access (who holds which role on which
                                                   org, why, until when) as CSV for auditors
  orgscim onboarding propose --file FILE|- [--json]
                                                   propose a partner org (JSON as POST
                                                   /api/v1/onboarding takes it): connection,
                                                   first administrator, mappings
  orgscim onboarding approve|reject --id ID [--reason TEXT] [--json]
                                                   decide; approval (by someone other than the
                                                   proposer) creates it all in one transaction
  orgscim onboarding list [--state proposed|approved|rejected] [--json]
  orgscim onboarding show --id ID [--json]
  orgscim setup-link create --connection SLUG [--ttl 72h] [--base-url URL] [--json]
                                                   a one-time link for the partner's IT
                                                   administrator: SCIM base URL, IdP steps, one
                                                   fresh token revealed once; prints the URL once
  orgscim connection health SLUG [--last N] [--json]
                                                   requests, errors, last push, token rotation and
                                                   expiry warnings, and the last requests (redacted)
  orgscim token rotate start|complete|cancel --connection SLUG [--expires DURATION] [--force] [--json]
                                                   rotate without downtime: start issues a new token
                                                   beside the old; complete (once the new one was
                                                   used, or --force) revokes the old; cancel the new

Every command takes --database URL (env ORGSCIM_DATABASE_URL): sqlite:PATH (default
sqlite:data/orgscim.db) or postgres://USER@HOST:PORT/DB. Migrations are applied
automatically, under a lock, by every command.

Secrets (SCIM tokens, admin API keys) are printed once and stored only as hashes;
webhook signing secrets are printed once and stored as they are, to sign with.
The admin API at /api/v1 (OpenAPI: GET /api/v1/openapi.json) takes
Authorization: Bearer oscadm_... with an operator key from apikey create, or a delegated
administrator's key issued through POST /api/v1/delegations/{id}/keys.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errUsage) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orgscim:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		sub = rest[0]
	}
	switch {
	case cmd == "help" || cmd == "--help" || cmd == "-h":
		fmt.Fprint(stdout, usage)
		return nil
	case cmd == "serve":
		return serve(ctx, rest, stdout, stderr)
	case cmd == "migrate":
		return migrate(ctx, rest, stdout, stderr)
	case cmd == "load":
		return load(ctx, rest, stdout, stderr)
	case cmd == "org" && sub == "create":
		return orgCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "connection" && sub == "create":
		return connectionCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "token" && sub == "create":
		return tokenCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "token" && sub == "list":
		return tokenList(ctx, rest[1:], stdout, stderr)
	case cmd == "org" && sub == "update":
		return orgUpdate(ctx, rest[1:], stdout, stderr)
	case cmd == "org" && sub == "move":
		return orgMove(ctx, rest[1:], stdout, stderr)
	case cmd == "role" && sub == "create":
		return roleCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "access" && sub == "check":
		return accessCheck(ctx, rest[1:], stdout, stderr)
	case cmd == "apikey" && sub == "create":
		return apikeyCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "apikey" && sub == "revoke":
		return apikeyRevoke(ctx, rest[1:], stdout, stderr)
	case cmd == "token" && sub == "revoke":
		return tokenRevoke(ctx, rest[1:], stdout, stderr)
	case cmd == "audit" && sub == "verify":
		return auditVerify(ctx, rest[1:], stdout, stderr)
	case cmd == "audit" && sub == "checkpoint":
		return auditCheckpoint(ctx, rest[1:], stdout, stderr)
	case cmd == "audit" && sub == "public-key":
		return auditPublicKey(ctx, rest[1:], stdout, stderr)
	case cmd == "audit" && sub == "seal":
		return auditSeal(ctx, rest[1:], stdout, stderr)
	case cmd == "audit" && sub == "export":
		return auditExport(ctx, rest[1:], stdout, stderr)
	case cmd == "audit" && sub == "verify-bundle":
		return auditVerifyBundle(ctx, rest[1:], stdout, stderr)
	case cmd == "reconcile":
		return reconcileCmd(ctx, rest, stdout, stderr)
	case cmd == "webhook" && sub == "create":
		return webhookCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "webhook" && sub == "list":
		return webhookList(ctx, rest[1:], stdout, stderr)
	case cmd == "webhook" && sub == "disable":
		return webhookDisable(ctx, rest[1:], stdout, stderr)
	case cmd == "webhook" && sub == "revocations":
		return webhookRevocations(ctx, rest[1:], stdout, stderr)
	case cmd == "connection" && sub == "policy":
		return connectionPolicy(ctx, rest[1:], stdout, stderr)
	case cmd == "review" && sub != "":
		return reviewCmd(ctx, sub, rest[1:], stdout, stderr)
	case cmd == "import":
		return importCmd(ctx, rest, stdout, stderr)
	case cmd == "export" && sub == "access":
		return exportAccess(ctx, rest[1:], stdout, stderr)
	case cmd == "onboarding" && sub != "":
		return onboardingCmd(ctx, sub, rest[1:], stdout, stderr)
	case cmd == "setup-link" && sub == "create":
		return setupLinkCreate(ctx, rest[1:], stdout, stderr)
	case cmd == "connection" && sub == "health":
		return connectionHealth(ctx, rest[1:], stdout, stderr)
	case cmd == "token" && sub == "rotate":
		return tokenRotate(ctx, rest[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "orgscim: unknown command %q\n\n%s", joinArgs(args), usage)
	return errUsage
}

func joinArgs(args []string) string {
	if len(args) > 2 {
		args = args[:2]
	}
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
