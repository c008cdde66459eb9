package orgs

import (
	"strings"
	"testing"
	"time"
)

// The engagement link of the authority rule: a technician's delegation holds only while
// every part of it does, and the answer names the first part that broke.
func TestTechnicianChain(t *testing.T) {
	now := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	org := func(id, path string) *Org {
		return &Org{ID: id, Slug: id, Path: path, Kind: KindPartner, Status: StatusActive}
	}
	for _, tc := range []struct {
		name   string
		broken func(chain []ChainLink, byID map[string]*Org)
		want   string // "" holds
	}{
		{"everything holds", func([]ChainLink, map[string]*Org) {}, ""},
		{"no customer consent", func(c []ChainLink, _ map[string]*Org) { c[0].Reach.Engagement.CustomerConsent = nil }, "consent of the customer's administrator"},
		{"no vendor consent", func(c []ChainLink, _ map[string]*Org) { c[0].Reach.Engagement.VendorConsent = nil }, "consent of the vendor"},
		{"revoked", func(c []ChainLink, _ map[string]*Org) { c[0].Reach.Engagement.Revoked = &past }, "was revoked"},
		{"expired", func(c []ChainLink, _ map[string]*Org) { c[0].Reach.Engagement.Expires = &past }, "has expired"},
		{"the MSP suspended", func(_ []ChainLink, b map[string]*Org) { b["msp"].Status = StatusSuspended }, "org msp (the MSP's path)"},
		{"the MSP's contract over", func(_ []ChainLink, b map[string]*Org) { b["msp"].ContractEnd = &past }, "org msp (the MSP's path)"},
		{"the customer ended", func(_ []ChainLink, b map[string]*Org) { b["cust"].Status = StatusEnded }, "org cust"},
		{"the holder left the MSP", func(c []ChainLink, b map[string]*Org) { c[0].Reach.HolderHome = b["other"] }, "no longer belongs to MSP msp"},
		{"the org outside the customer", func(c []ChainLink, _ map[string]*Org) { c[0].OrgPath = "/v/other/" }, "outside customer cust"},
		{"the parent no longer on the MSP", func(c []ChainLink, _ map[string]*Org) { c[1].OrgPath = "/v/other/" }, "no longer administers MSP msp"},
		{"more than the engagement", func(c []ChainLink, _ map[string]*Org) {
			c[0].Delegation.Capabilities = append(c[0].Delegation.Capabilities, CapApprove)
		}, "does not confer approve"},
		{"no engagement read", func(c []ChainLink, _ map[string]*Org) { c[0].Reach = nil }, "MSP engagement is missing"},
		{"no parent", func(c []ChainLink, _ map[string]*Org) { c[0].Delegation.ParentID = "gone" }, "administrator's delegation it was made under is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byID := map[string]*Org{"v": org("v", "/v/"), "msp": org("msp", "/v/msp/"), "cust": org("cust", "/v/cust/"), "other": org("other", "/v/other/")}
			byID["v"].Kind = KindVendor
			e := &Engagement{ID: "e", MSPOrgID: "msp", CustomerOrgID: "cust", Capabilities: []Capability{CapManageMembers},
				CustomerConsent: &past, VendorConsent: &past, Expires: &future}
			chain := []ChainLink{
				{Delegation: &Delegation{ID: "tech", OrgID: "cust", ParentID: "admin", EngagementID: "e", Capabilities: []Capability{CapManageMembers}},
					OrgPath: "/v/cust/", HolderActive: true, HolderConnectionStatus: "active",
					Reach: &MSPReach{Engagement: e, MSP: byID["msp"], Customer: byID["cust"], HolderHome: byID["msp"]}},
				{Delegation: &Delegation{ID: "admin", OrgID: "msp", Capabilities: []Capability{CapManageMembers, CapDelegate}, Depth: 1},
					OrgPath: "/v/msp/", HolderActive: true, HolderConnectionStatus: "active"},
			}
			tc.broken(chain, byID)
			err := chainHolds(chain, byID, now)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
