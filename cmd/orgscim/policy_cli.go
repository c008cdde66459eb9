package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

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

func connectionPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	ctx = asOperator(ctx)
	fs, dbURL := newFlags("connection policy", stderr)
	conn := fs.String("connection", "", "connection slug (required)")
	stale := fs.String("stale-after", "", "deactivate members their IdP has not written for this long, e.g. 90d; 0 turns it off")
	maxChanges := fs.Int("guard-max-changes", -1, "hold a pass that would revoke more grants or deactivate more members than this; 0: no limit")
	maxShare := fs.Float64("guard-max-share", -1, "hold a pass that would revoke more than this share (0..1) of the live grants or active members; 0: no limit")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *conn == "" {
		fmt.Fprintln(stderr, "connection policy: --connection is required")
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var u orgs.PolicyUpdate
	if set["stale-after"] {
		d, err := parseDays(*stale)
		if err != nil {
			fmt.Fprintln(stderr, "connection policy: --stale-after:", err)
			return errUsage
		}
		u.StaleAfter = &d
	}
	if set["guard-max-changes"] {
		u.GuardMaxChanges = maxChanges
	}
	if set["guard-max-share"] {
		u.GuardMaxShare = maxShare
	}
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	dir := newServices(db, nil).dir
	var p orgs.Policy
	if u == (orgs.PolicyUpdate{}) {
		p, err = dir.ConnectionPolicy(ctx, *conn)
	} else {
		p, err = dir.SetConnectionPolicy(ctx, *conn, "operator:cli:"+osUser(), u)
	}
	if err != nil {
		return cliError(err)
	}
	if *asJSON {
		return printJSON(stdout, map[string]any{"connection": *conn, "stale_after_seconds": int64(p.StaleAfter / time.Second),
			"guard_max_changes": p.GuardMaxChanges, "guard_max_share": p.GuardMaxShare})
	}
	stalePart := "off"
	if p.StaleAfter > 0 {
		stalePart = p.StaleAfter.String()
	}
	_, err = fmt.Fprintf(stdout, "connection %s: stale after %s; guardrail: %d changes, share %g per pass\n",
		*conn, stalePart, p.GuardMaxChanges, p.GuardMaxShare)
	return err
}
