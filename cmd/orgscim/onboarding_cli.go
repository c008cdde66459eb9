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
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/setuppage"
)

// DefaultPublicURL is where setup links point unless --base-url or ORGSCIM_PUBLIC_URL
// says otherwise: the address `make run` serves.
const DefaultPublicURL = "http://127.0.0.1:8080"

// cliPrincipal is whoever runs the CLI, as an operator named like its audit actor.
func onboardingCmd(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	switch sub {
	case "propose":
		return onboardingPropose(ctx, args, stdout, stderr)
	case "approve", "reject":
		return onboardingDecide(ctx, sub, args, stdout, stderr)
	case "list":
		return onboardingList(ctx, args, stdout, stderr)
	case "show":
		return onboardingShow(ctx, args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "orgscim: unknown command \"onboarding %s\"\n\n%s", sub, usage)
	return errUsage
}

func onboardingPropose(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("onboarding propose", stderr)
	file := fs.String("file", "", "the proposal as JSON, as POST /api/v1/onboarding takes it; - for standard input (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		fmt.Fprintln(stderr, "onboarding propose: --file is required")
		return errUsage
	}
	var raw []byte
	var err error
	if *file == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(*file)
	}
	if err != nil {
		return err
	}
	var req adminapi.ProposeOnboardingRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("onboarding propose: %s is not a proposal: %v", *file, err)
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := newServices(db, nil).onboarding.Propose(ctx, cliOperator(), req.Proposal(), req.Parent)
	if err != nil {
		return cliError(err)
	}
	return printOnboarding(ctx, stdout, db.Orgs(), r, *asJSON)
}

func onboardingDecide(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("onboarding "+verb, stderr)
	id := fs.String("id", "", "the request's id (required)")
	reason := fs.String("reason", "", "why")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		fmt.Fprintf(stderr, "onboarding %s: --id is required\n", verb)
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newServices(db, nil).onboarding
	decide := svc.Reject
	if verb == "approve" {
		decide = svc.Approve
	}
	r, err := decide(ctx, cliOperator(), *id, *reason)
	if err != nil {
		return cliError(err)
	}
	return printOnboarding(ctx, stdout, db.Orgs(), r, *asJSON)
}

func onboardingList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("onboarding list", stderr)
	state := fs.String("state", "", "proposed, approved or rejected; empty for all")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	rs, err := newServices(db, nil).onboarding.List(ctx, cliOperator(), *state, "", 1000)
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		out, err := onboardingsJSON(ctx, db.Orgs(), rs)
		if err != nil {
			return err
		}
		return printJSON(stdout, out)
	}
	for _, r := range rs {
		fmt.Fprintf(stdout, "%s  %-8s  %-24s  proposed by %s at %s\n", r.ID, r.State, r.OrgSlug, r.ProposedBy,
			r.Proposed.Format(time.RFC3339))
	}
	return nil
}

func onboardingShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("onboarding show", stderr)
	id := fs.String("id", "", "the request's id (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		fmt.Fprintln(stderr, "onboarding show: --id is required")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := newServices(db, nil).onboarding.OnboardingFor(ctx, cliOperator(), *id)
	if err != nil {
		return cliError(err)
	}
	return printOnboarding(ctx, stdout, db.Orgs(), r, *asJSON)
}

// onboardingsJSON is the requests as the admin API shows them, their parents read in one
// query.
func onboardingsJSON(ctx context.Context, st orgs.Store, rs []*orgs.OnboardingRequest) ([]adminapi.Onboarding, error) {
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

func printOnboarding(ctx context.Context, w io.Writer, st orgs.Store, r *orgs.OnboardingRequest, asJSON bool) error {
	if asJSON {
		out, err := onboardingsJSON(ctx, st, []*orgs.OnboardingRequest{r})
		if err != nil {
			return err
		}
		return printJSON(w, out[0])
	}
	fmt.Fprintf(w, "onboarding request %s: %s, org %s (connection %s, %s), first administrator %s\n",
		r.ID, r.State, r.OrgSlug, r.ConnectionSlug, r.IdP, r.AdminUserName)
	if r.State == orgs.OnboardingApproved {
		fmt.Fprintf(w, "created org %s, connection %s (pending), delegation %s; next: orgscim setup-link create --connection %s\n",
			r.OrgID, r.ConnectionID, r.DelegationID, r.ConnectionSlug)
	}
	return nil
}

func setupLinkCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("setup-link create", stderr)
	conn := fs.String("connection", "", "the connection's slug (required)")
	ttl := fs.Duration("ttl", orgs.DefaultSetupLinkTTL, "how long the link works, at most 720h")
	base := fs.String("base-url", envOr("ORGSCIM_PUBLIC_URL", DefaultPublicURL), "the server's public URL (env ORGSCIM_PUBLIC_URL)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conn == "" || *ttl <= 0 {
		fmt.Fprintln(stderr, "setup-link create: --connection is required; --ttl must be positive")
		return errUsage
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	l, secret, err := newServices(db, nil).onboarding.CreateSetupLink(ctx, cliOperator(), *conn, *ttl)
	if err != nil {
		return cliError(err)
	}
	url := strings.TrimSuffix(*base, "/") + setuppage.Prefix + secret
	if *asJSON {
		return printJSON(stdout, map[string]any{"id": l.ID, "connection": *conn, "url": url, "expires_at": l.Expires.Format(time.RFC3339)})
	}
	fmt.Fprintf(stdout, "setup link %s for connection %s, until %s\nURL (shown once): %s\n", l.ID, *conn,
		l.Expires.Format(time.RFC3339), url)
	return nil
}
