package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/imports"
	"github.com/orgscim/orgscim/internal/dbtest"
	"github.com/orgscim/orgscim/orgs"
)

// BenchmarkImport measures, on each engine, a real import of a spreadsheet at the row
// cap (5000 people, each with a grant, in 50 new orgs), and what the link lookup adds to
// an IdP's user creation: on a connection with 5000 unclaimed imported users, and on one
// with none. Run with -benchtime=1x: each iteration needs a fresh schema.
//
//	go test -run '^$' -bench BenchmarkImport -benchtime=1x ./cmd/orgscim/
func BenchmarkImport(b *testing.B) {
	for _, engine := range dbtest.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			for range b.N {
				benchImportOnce(b, engine)
			}
		})
	}
}

func benchImportOnce(b *testing.B, engine string) {
	b.StopTimer()
	ctx := context.Background()
	db := dbtest.Open(b, engine)
	svc := newServices(db, nil)
	op := orgs.Principal{Operator: "bench"}
	for _, o := range [][2]string{{"vendor", ""}, {"acme", "vendor"}, {"globex", "vendor"}} {
		if _, err := svc.dir.CreateOrg(ctx, o[0], o[0], o[1]); err != nil {
			b.Fatal(err)
		}
	}
	acme, _, err := svc.dir.CreateConnection(ctx, "acme", "acme", "okta")
	if err != nil {
		b.Fatal(err)
	}
	globex, _, err := svc.dir.CreateConnection(ctx, "globex", "globex", "okta")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.access.CreateRole(ctx, orgs.Role{Key: "viewer", Permissions: []string{"x.read"}}); err != nil {
		b.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("org_path,email,external_id,role,expires_at\n")
	for i := range imports.MaxImportRows {
		fmt.Fprintf(&csv, "acme/unit-%02d,p%05d@acme.example,imp%05d,viewer,2099-01-01\n", i%50, i, i)
	}
	b.StartTimer()
	t0 := time.Now()
	rep, err := svc.imports.Import(ctx, op, []byte(csv.String()), false)
	took := time.Since(t0)
	b.StopTimer()
	if err != nil || !rep.Applied || rep.UsersCreated != imports.MaxImportRows || rep.OrgsCreated != 50 {
		b.Fatalf("import: %v %+v", err, rep.Problems)
	}
	b.ReportMetric(took.Seconds(), "s/import-5000")

	// An IdP's creations of new people: with 5000 unclaimed imported users in the
	// connection, and with none.
	create := func(conn, prefix string) float64 {
		lat := make([]time.Duration, 0, 300)
		for i := range cap(lat) {
			attrs := map[string]any{"userName": fmt.Sprintf("%s%04d@idp.example", prefix, i), "externalId": fmt.Sprintf("%s-%d", prefix, i),
				"emails": []any{map[string]any{"value": fmt.Sprintf("%s%04d@idp.example", prefix, i), "primary": true}}}
			t0 := time.Now()
			if _, err := svc.users.Create(ctx, conn, attrs, ""); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		return float64(lat[len(lat)/2].Microseconds())
	}
	b.ReportMetric(create(acme.ID, "new"), "p50-µs/create-5000-unlinked")
	b.ReportMetric(create(globex.ID, "new"), "p50-µs/create-no-imports")
	t0 = time.Now()
	for i := range 300 {
		attrs := map[string]any{"userName": fmt.Sprintf("okta%05d@acme.example", i), "externalId": fmt.Sprintf("00u%05d", i),
			"emails": []any{map[string]any{"value": fmt.Sprintf("p%05d@acme.example", i), "primary": true}}}
		if u, err := svc.users.Create(ctx, acme.ID, attrs, ""); err != nil || u.ExternalID != fmt.Sprintf("00u%05d", i) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((time.Since(t0) / 300).Microseconds()), "µs/link-by-email")
}
