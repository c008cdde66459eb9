package sessions

import (
	"context"
	"testing"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// A sign-in configuration that orgscim could not use is refused before anything is
// stored (the service has no store here: reaching it would panic).
func TestConfigureRefusesWhatCannotSignAnyoneIn(t *testing.T) {
	conn := &orgs.Connection{ID: "c1", Slug: "acme"}
	operator := orgs.Principal{Operator: "ops"}
	good := SignIn{Issuer: "https://idp.example/", ClientID: "id", ClientSecret: "secret", Claim: "sub"}
	with := func(f func(*SignIn)) SignIn { c := good; f(&c); return c }
	for _, tc := range []struct {
		name string
		by   orgs.Principal
		in   SignIn
		code orgscim.Code
	}{
		{"a delegate", orgs.Principal{Delegation: &orgs.Delegation{ID: "d"}}, good, orgscim.Forbidden},
		{"no issuer", operator, with(func(c *SignIn) { c.Issuer = " " }), orgscim.Invalid},
		{"no secret", operator, with(func(c *SignIn) { c.ClientSecret = "" }), orgscim.Invalid},
		{"http issuer elsewhere", operator, with(func(c *SignIn) { c.Issuer = "http://idp.example" }), orgscim.InvalidValue},
		{"issuer with a query", operator, with(func(c *SignIn) { c.Issuer = "https://idp.example/?x=1" }), orgscim.InvalidValue},
		{"issuer with credentials", operator, with(func(c *SignIn) { c.Issuer = "https://u:p@idp.example" }), orgscim.InvalidValue},
		{"a claim that finds nobody", operator, with(func(c *SignIn) { c.Claim = "groups" }), orgscim.InvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Service{}).Configure(context.Background(), tc.by, conn, tc.in)
			if got := orgscim.ErrorCode(err); got != tc.code {
				t.Fatalf("Configure: %v (code %s), want %s", err, got, tc.code)
			}
		})
	}
}

// Sessions and links are refused on their shape before any lookup.
func TestMalformedSecretsAreRefusedWithoutALookup(t *testing.T) {
	s := &Service{}
	if _, err := s.Resume(context.Background(), "not-a-session"); orgscim.ErrorCode(err) != orgscim.Unauthorized {
		t.Errorf("Resume: %v", err)
	}
	if _, _, err := s.RedeemLink(context.Background(), "oscadm_x"); orgscim.ErrorCode(err) != orgscim.Unauthorized {
		t.Errorf("RedeemLink: %v", err)
	}
}
