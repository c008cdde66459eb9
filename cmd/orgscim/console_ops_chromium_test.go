package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/sqlstore"
)

// TestConsoleOpsInChromium drives the operations pages in a real browser on each
// engine: an operator reads a connection's health and request log, a failing webhook
// and disables it, a held reconciler plan (a stale sign-in sent to authenticate again
// and back, then approved), searches the audit trail (a bad time shown next to its field), and
// imports a spreadsheet — problems first, then a plan line by line, applied with a page
// that reloads itself until the import is done; a partner administrator's audit search
// stays inside their subtree. Every page is checked by axe-core and photographed.
func TestConsoleOpsInChromium(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		f, o := newOpsFixture(t, db)
		b := f.tab(t)
		b.operator("alice")
		base := f.env.srv.URL + "/console"

		b.run("open acme's connection", chromedp.Navigate(base+"/connections/acme"), chromedp.WaitVisible("#health-link"))
		b.run("open its health", chromedp.Click("#health-link"), chromedp.WaitVisible("#request-log"))
		if log := b.text("#request-log"); !strings.Contains(log, "409") || strings.Contains(log, "hunter2") {
			t.Errorf("the request log reads:\n%s", log)
		}
		b.check("health")

		b.run("open the webhooks", chromedp.Click("#nav-webhooks"), chromedp.WaitVisible("#webhooks"))
		if list := b.text("#webhooks"); !strings.Contains(list, "503") || !strings.Contains(list, "next") {
			t.Errorf("the webhooks read:\n%s", list)
		}
		b.check("webhooks")
		b.run("open the failing one", chromedp.Click(`//a[contains(., "/hook")]`), chromedp.WaitVisible("#deliveries"))
		b.check("webhook")
		b.run("disable it", chromedp.Click("#disable"), chromedp.WaitVisible("#done"))
		if s := b.text("#subscription-state"); s != "disabled" {
			t.Errorf("after disabling, the state reads %q", s)
		}

		b.run("open the reconciler", chromedp.Click("#nav-reconciler"), chromedp.WaitVisible("#held-count"))
		b.check("reconciler")
		b.run("open the held run", chromedp.Click(`//a[.="`+o.run.ID+`"]`), chromedp.WaitVisible("#approve-all"))
		if plan := b.text("#hold-acme"); !strings.Contains(plan, "revoke 3 grant(s) by rule grant-expired") {
			t.Errorf("the held plan reads:\n%s", plan)
		}
		b.check("run")
		f.advance(6 * time.Minute)
		b.run("approve after a stale sign-in", chromedp.Click("#approve-all"), chromedp.WaitVisible("#step-up"))
		if cmd := b.text("#step-up-command"); cmd != "orgscim console link --operator alice" {
			t.Errorf("the step-up page asks for %q", cmd)
		}
		// A fresh one-time link in this browser brings alice back to the run.
		secret, _, err := newServices(f.env.db, f.env.clock.Now).sessions.IssueLink(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		b.run("open the fresh link", chromedp.Navigate(base+"/link/"+secret), chromedp.WaitVisible("#use-link"))
		b.run("use it", chromedp.Click("#use-link"), chromedp.WaitVisible(".approve-one"))
		b.run("approve acme's plan", chromedp.Click(".approve-one"), chromedp.WaitVisible("#done"))
		if plan := b.text("#hold-acme"); !strings.Contains(plan, "approved") {
			t.Errorf("after approval the plan reads:\n%s", plan)
		}
		b.check("run-approved")

		b.run("open the audit", chromedp.Click("#nav-audit"), chromedp.WaitVisible("#events"))
		b.run("search by action", chromedp.SetValue("#action", "webhook."), chromedp.Click("#search"),
			// The answer's field carries the value as an attribute; the page typed in only as a property.
			chromedp.WaitVisible(`//input[@id="action"][@value="webhook."]`), chromedp.WaitVisible("#events"))
		if ev := b.text("#events"); !strings.Contains(ev, "webhook.disable") || strings.Contains(ev, "grant.create") {
			t.Errorf("the search for webhook. shows:\n%s", ev)
		}
		b.check("audit")
		b.run("search with until before since", chromedp.SetValue("#since", "2030-06-01T00:00"), chromedp.SetValue("#until", "2030-01-01T00:00"),
			chromedp.Click("#search"), chromedp.WaitVisible("#until-problem"))
		b.check("audit-invalid")

		dir := t.TempDir()
		badFile, goodFile := filepath.Join(dir, "bad.csv"), filepath.Join(dir, "partners.csv")
		if err := os.WriteFile(badFile, []byte("org_path,user_name,role\nacme/emea,sam@acme.example,nosuchrole\nnowhere/x,,\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goodFile, []byte("org_path,org_name,user_name,email,connection,role,expires_at\n"+
			"acme/emea/paris,Acme Paris,dora@acme.example,dora@acme.example,acme,viewer,2031-06-30\n"+
			"acme/lyon,,sam@acme.example,,acme,editor,\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b.run("open the import", chromedp.Click("#nav-imports"), chromedp.WaitVisible("#upload-form"))
		b.check("import")
		b.run("check a file with problems", chromedp.SetUploadFiles("#file", []string{badFile}), chromedp.Click("#check"),
			chromedp.WaitVisible("#problems"))
		b.check("import-problems")
		b.run("check a good file", chromedp.SetUploadFiles("#file", []string{goodFile}), chromedp.Click("#check"),
			chromedp.WaitVisible("#apply-form"))
		if lines := b.text("#lines"); !strings.Contains(lines, "paris") || !strings.Contains(lines, "dora@acme.example") {
			t.Errorf("the plan reads:\n%s", lines)
		}
		b.check("import-plan")
		b.run("apply it", chromedp.Click("#apply"), chromedp.WaitVisible("#import-done"))
		if done := b.text("#import-done"); !strings.Contains(done, "2 grant(s) created") {
			t.Errorf("the import's outcome reads:\n%s", done)
		}
		b.check("import-done")

		// pat, a partner's administrator, searches only acme's subtree.
		p := f.tab(t)
		p.delegate("pat-sub")
		p.run("open the audit", chromedp.Click("#nav-audit"), chromedp.WaitVisible("#audit-scope"))
		if ev := p.text("#events"); strings.Contains(ev, "Globex") || !strings.Contains(ev, "Acme") {
			t.Errorf("pat's audit shows:\n%s", ev)
		}
		if offered, err := chromedp.Run(p.browser, chromedp.Evaluate[bool](`!!(document.querySelector("#nav-webhooks") || document.querySelector("#nav-reconciler"))`)); err != nil || offered {
			t.Errorf("a partner's administrator is offered the operators' pages (%v)", err)
		}
		p.run("search grants", chromedp.Navigate(base+"/audit?action=grant.&limit=5"), chromedp.WaitVisible("#next-page"))
		p.check("audit-delegate")
	})
}
