package main

// The command line, on kong: the tree of commands and their flags is the struct cli
// below; each leaf is a struct whose Run method does the work with a *cliEnv. Help
// comes from the structs' help tags and Help methods (each with an example), so that
// `orgscim --help`, `orgscim org --help` and `orgscim org create --help` say what the
// code accepts.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/alecthomas/kong"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/sqlstore"
)

// commandLine is the whole command line. Commands are grouped by what they act on.
type commandLine struct {
	Database string `env:"ORGSCIM_DATABASE_URL" default:"${default_database}" placeholder:"URL" help:"Database: sqlite:PATH or postgres://USER@HOST:PORT/DB (default ${default}). Migrations are applied automatically, under a lock."`

	Serve   serveCmd   `cmd:"" help:"Run the HTTP server: SCIM, the admin API /api/v1, /healthz, /readyz, /metrics."`
	Migrate migrateCmd `cmd:"" help:"Apply pending database migrations and exit."`

	Org struct {
		Create orgCreateCmd `cmd:"" help:"Create an org; prints it."`
		Update orgUpdateCmd `cmd:"" help:"Change an org's relationship: status, contract, grace, owner."`
		Move   orgMoveCmd   `cmd:"" help:"Re-parent an org with its subtree."`
	} `cmd:"" help:"Orgs: the vendor, its partners and their units, in one tree."`
	Connection struct {
		Create connectionCreateCmd `cmd:"" help:"Create a SCIM connection bound to an org and issue its first token."`
		Policy connectionPolicyCmd `cmd:"" help:"Show or change a connection's lifecycle policy."`
		Health connectionHealthCmd `cmd:"" help:"Requests, errors, last push, token warnings and the last requests."`
	} `cmd:"" help:"SCIM connections: one partner IdP's tenant each."`
	Domain struct {
		Claim  domainClaimCmd  `cmd:"" help:"Claim an e-mail domain for an org; prints the token to publish."`
		List   domainListCmd   `cmd:"" help:"List an org's domain claims."`
		Verify domainVerifyCmd `cmd:"" help:"Check a claim's DNS or HTTPS proof now."`
		Remove domainRemoveCmd `cmd:"" help:"Remove a domain claim."`
	} `cmd:"" help:"Verified partner domains: who may provision which e-mail domain."`
	Token struct {
		Create tokenCreateCmd `cmd:"" help:"Issue another token for a connection (rotation by hand)."`
		List   tokenListCmd   `cmd:"" help:"List a connection's tokens, usable or not."`
		Revoke tokenRevokeCmd `cmd:"" help:"Revoke one token at once."`
		Rotate struct {
			Start    tokenRotateStartCmd    `cmd:"" help:"Issue a new token that works beside the old one."`
			Complete tokenRotateCompleteCmd `cmd:"" help:"Revoke the old tokens once the new one was used."`
			Cancel   tokenRotateCancelCmd   `cmd:"" help:"Revoke the new token and keep the old."`
		} `cmd:"" help:"Rotate a connection's token without downtime."`
	} `cmd:"" help:"SCIM bearer tokens of a connection."`
	Role struct {
		Create roleCreateCmd `cmd:"" help:"Define a role: its key and permissions."`
	} `cmd:"" help:"The role catalogue."`
	Access struct {
		Check accessCheckCmd `cmd:"" help:"May this user (or service account) do P for org O? Allow or deny, with the chain behind it."`
	} `cmd:"" help:"Access decisions."`
	ServiceAccount serviceAccountCmds `cmd:"" name:"service-account" help:"Service accounts and integration tokens: non-human identities of an org."`
	Export         struct {
		Access exportAccessCmd `cmd:"" help:"Current access as CSV for auditors."`
	} `cmd:"" help:"Exports for auditors."`
	Import importCmd `cmd:"" help:"Import a CSV spreadsheet of orgs, people and roles."`
	Apikey struct {
		Create apikeyCreateCmd `cmd:"" help:"Issue an operator key for the admin API (optionally named, with an owner)."`
		List   apikeyListCmd   `cmd:"" help:"List the operator keys with their state now."`
		Revoke apikeyRevokeCmd `cmd:"" help:"Revoke an operator key."`
	} `cmd:"" help:"Operator keys of the admin API."`
	Onboarding struct {
		Propose onboardingProposeCmd `cmd:"" help:"Propose a partner org, its connection, first administrator and mappings."`
		Approve onboardingApproveCmd `cmd:"" help:"Approve a proposal (not your own): creates it all in one transaction."`
		Reject  onboardingRejectCmd  `cmd:"" help:"Reject a proposal."`
		List    onboardingListCmd    `cmd:"" help:"List onboarding requests."`
		Show    onboardingShowCmd    `cmd:"" help:"Show one onboarding request."`
	} `cmd:"" help:"Partner onboarding, four eyes."`
	SetupLink struct {
		Create setupLinkCreateCmd `cmd:"" help:"A one-time link for the partner's IT administrator."`
	} `cmd:"" name:"setup-link" help:"Setup links for partners' IT administrators."`
	Support supportGroup `cmd:"" help:"Support sessions: the vendor's staff on a partner's data, approved by the partner, time-boxed, audited."`
	MSP     mspGroup     `cmd:"" name:"msp" help:"Managed service providers: an MSP administers customers outside its subtree, with both sides' consent."`
	Review  struct {
		Create   reviewCreateCmd   `cmd:"" help:"Start an access review of an org's subtree."`
		List     reviewListCmd     `cmd:"" help:"List access reviews."`
		Show     reviewShowCmd     `cmd:"" help:"Show one access review and its counts."`
		CloseDue reviewCloseDueCmd `cmd:"" help:"Close the reviews past their deadline now, revoking what nobody confirmed."`
	} `cmd:"" help:"Access reviews."`
	Reconcile reconcileGroup `cmd:"" help:"The lifecycle reconciler: expiry, offboarding, stale members, drift; exit 3 when a plan is held."`
	Audit     struct {
		Verify       auditVerifyCmd       `cmd:"" help:"Rebuild the audit log's Merkle tree and check it against its checkpoints; exit 1 when broken."`
		Checkpoint   auditCheckpointCmd   `cmd:"" help:"Print the latest signed checkpoint."`
		PublicKey    auditPublicKeyCmd    `cmd:"" name:"public-key" help:"Print the log's public key (for auditors and witnesses)."`
		Seal         auditSealCmd         `cmd:"" help:"Seal pending events now (serve does it every --seal-interval)."`
		Export       auditExportCmd       `cmd:"" help:"Write an evidence bundle: an org's events with inclusion proofs, checkpoint and key."`
		VerifyBundle auditVerifyBundleCmd `cmd:"" name:"verify-bundle" help:"Check an evidence bundle offline; exit 1 when it fails."`
	} `cmd:"" help:"The audit log: events, signed checkpoints, proofs and evidence bundles."`
	Webhook struct {
		Create      webhookCreateCmd      `cmd:"" help:"Send a connection's (or the control plane's) events, signed, to a URL."`
		List        webhookListCmd        `cmd:"" help:"List subscriptions with their backlog, last error and next attempt."`
		Update      webhookUpdateCmd      `cmd:"" help:"Switch a subscription's signature format (standard or orgscim)."`
		Disable     webhookDisableCmd     `cmd:"" help:"Disable a subscription and drop its pending deliveries."`
		Revocations webhookRevocationsCmd `cmd:"" help:"Time to revoke per connection, to the last subscriber's acknowledgement."`
	} `cmd:"" help:"Signed webhook deliveries to downstream applications."`
	SSF     ssfGroup `cmd:"" name:"ssf" help:"Shared Signals (SSF 1.0, CAEP/RISC): receivers and the SET signing key."`
	Console struct {
		Link   consoleLinkCmd   `cmd:"" help:"Print a one-time sign-in link to the console for an operator."`
		SignIn consoleSignInCmd `cmd:"" name:"sign-in" help:"Configure a connection's OpenID Connect sign-in to the console."`
	} `cmd:"" help:"The web console under /console."`
	Load       loadCmd       `cmd:"" help:"Drive a running server's SCIM endpoint and print requests/s and latency per phase."`
	Version    versionCmd    `cmd:"" help:"Print the version, VCS revision and Go version of this binary."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script (bash, zsh or fish)."`
}

const cliDescription = `orgscim — SCIM 2.0 provisioning for B2B partner organisations.`

// cliFooter ends `orgscim --help`: what holds for every command.
const cliFooter = `
Every command takes --database URL (env ORGSCIM_DATABASE_URL): sqlite:PATH (default
sqlite:data/orgscim.db) or postgres://USER@HOST:PORT/DB. Commands that change something
act as the operator "operator:cli:<OS user>" in the audit trail, or as --as NAME.

Secrets (SCIM tokens, admin API keys) are printed once and stored only as hashes;
webhook signing secrets are printed once and stored as they are, to sign with.
The admin API at /api/v1 (OpenAPI: GET /api/v1/openapi.json) takes
Authorization: Bearer oscadm_... with an operator key from apikey create, or a delegated
administrator's key issued through POST /api/v1/delegations/{id}/keys.

Exit status: 0 success (and --help), 1 error, 2 usage error, 3 reconcile held a plan
for approval.
`

// cliEnv is what every command runs with: the process's context and streams and the
// global flags.
type cliEnv struct {
	ctx            context.Context
	stdout, stderr io.Writer
	database       string
}

// open opens (and migrates) the database of --database.
func (e *cliEnv) open() (*sqlstore.DB, error) { return sqlstore.Open(e.ctx, e.database) }

// errUsage marks a usage error: main exits 2. run has printed the usage line already.
var errUsage = errors.New("usage")

// usageError is a command's own usage error, e.g. two flags that contradict each other.
type usageError struct{ msg string }

func (u *usageError) Error() string        { return u.msg }
func (u *usageError) Is(target error) bool { return target == errUsage }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// codedError carries an exit status other than 1, after its message.
type codedError struct {
	code int
	msg  string
}

func (e *codedError) Error() string { return e.msg }

// kongExit is how kong's exit (after --help) unwinds to run instead of ending the
// process, so that tests call run like main does.
type kongExit int

func newParser(c *commandLine, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(c,
		kong.Name("orgscim"),
		kong.Description(cliDescription),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(kongExit(code)) }),
		kong.Vars{"default_database": DefaultDatabase, "default_public_url": DefaultPublicURL,
			"token_expiry_warning": orgs.DefaultTokenExpiryWarning.String(), "load_phases": strings.Join(allPhases, ",")},
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, WrapUpperBound: 100}),
		kong.Help(func(opts kong.HelpOptions, ctx *kong.Context) error {
			if err := kong.DefaultHelpPrinter(opts, ctx); err != nil {
				return err
			}
			if ctx.Selected() == nil {
				_, err := fmt.Fprint(ctx.Stdout, cliFooter)
				return err
			}
			return nil
		}))
}

// run parses args and runs the command they name. Help exits 0 (nil); a usage error
// prints the command's usage line and where to read more, and returns errUsage.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	var c commandLine
	parser, err := newParser(&c, stdout, stderr)
	if err != nil {
		return err // a mistake in the commandLine struct: tests catch it
	}
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			if code != 0 {
				err = errUsage
			} else {
				err = nil
			}
		}
	}()
	if len(args) == 0 {
		// No command: the help, where a usage error goes, and a usage error.
		help, _ := newParser(&commandLine{}, stderr, stderr)
		defer func() { recover(); err = errUsage }()
		_, _ = help.Parse([]string{"--help"})
		return errUsage
	}
	kctx, err := parser.Parse(doubleDash(parser, args))
	if err != nil {
		var perr *kong.ParseError
		if errors.As(err, &perr) {
			msg := friendlyParseError(err.Error())
			printUsageError(stderr, perr.Context, msg)
			return &usageError{msg}
		}
		return err
	}
	env := &cliEnv{ctx: ctx, stdout: stdout, stderr: stderr, database: c.Database}
	err = kctx.Run(env)
	if errors.Is(err, errUsage) {
		printUsageError(stderr, kctx, err.Error())
	}
	return err
}

// printUsageError says what was wrong, the command's usage line and where its help is.
func printUsageError(w io.Writer, ctx *kong.Context, msg string) {
	fmt.Fprintf(w, "orgscim: %s\n", msg)
	path := "orgscim"
	if ctx != nil {
		if sel := ctx.Selected(); sel != nil {
			fmt.Fprintf(w, "usage: orgscim %s\n", sel.Summary())
			path = "orgscim " + sel.Path()
		} else if ctx.Model != nil {
			// A group such as "org" without its subcommand: list what it has.
			if node := lastCommand(ctx); node != nil {
				path = "orgscim " + node.Path()
				var subs []string
				for _, ch := range node.Children {
					if !ch.Hidden {
						subs = append(subs, ch.Name)
					}
				}
				fmt.Fprintf(w, "usage: %s <%s> [flags]\n", path, strings.Join(subs, "|"))
			}
		}
	}
	fmt.Fprintf(w, "see %s --help\n", path)
}

// lastCommand is the deepest command the parse reached, nil for none.
func lastCommand(ctx *kong.Context) *kong.Node {
	var node *kong.Node
	for _, p := range ctx.Path {
		if p.Command != nil {
			node = p.Command
		}
	}
	return node
}

// friendlyParseError rewords kong's "missing flags: --url=STRING" as "--url is
// required", the way the commands have always said it.
func friendlyParseError(msg string) string {
	list, ok := strings.CutPrefix(msg, "missing flags: ")
	if !ok {
		return msg
	}
	var names []string
	for _, f := range strings.Split(list, ", ") {
		name, _, _ := strings.Cut(f, "=")
		names = append(names, name)
	}
	if len(names) == 1 {
		return names[0] + " is required"
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " are required"
}

// doubleDash accepts the single-dash long flags Go's flag package took (-json,
// -database URL), which scripts written for earlier releases use: each becomes its
// double-dash form when it names a flag of the command line. Anything after "--" is left
// alone.
func doubleDash(k *kong.Kong, args []string) []string {
	long := map[string]bool{}
	_ = kong.Visit(k.Model, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok {
			long[f.Name] = true
		}
		return next(nil)
	})
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if long[name] && len(name) > 1 {
				out[i] = "-" + a
			}
		}
	}
	return out
}
