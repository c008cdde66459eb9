package provisioning

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestUserDiffShowsPasswordChangesButNeverTheHash(t *testing.T) {
	const oldHash, newHash = "$2a$10$oldoldoldoldoldoldoldo", "$2a$10$newnewnewnewnewnewnewn"
	user := func(title, hash string) *User {
		u := &User{Attributes: map[string]any{"userName": "ann", "title": title}, PasswordHash: hash}
		u.Index()
		return u
	}
	for _, tc := range []struct {
		name          string
		before, after *User
		want          map[string]any // path -> {before, after}; values as JSON decodes them
	}{
		{"create with a password", nil, user("Dev", newHash), map[string]any{
			"userName": map[string]any{"after": "ann"}, "title": map[string]any{"after": "Dev"},
			"active": map[string]any{"after": true}, "password": map[string]any{"after": "[redacted]"},
		}},
		{"password replaced", user("Dev", oldHash), user("Dev", newHash), map[string]any{
			"password": map[string]any{"before": "[redacted]", "after": "[redacted]"},
		}},
		{"password set for the first time", user("Dev", ""), user("Dev", newHash), map[string]any{
			"password": map[string]any{"after": "[redacted]"},
		}},
		{"password kept, title changed", user("Dev", oldHash), user("Lead", oldHash), map[string]any{
			"title": map[string]any{"before": "Dev", "after": "Lead"},
		}},
		{"nothing changed", user("Dev", oldHash), user("Dev", oldHash), map[string]any{}},
		{"deleted", user("Dev", oldHash), nil, map[string]any{
			"userName": map[string]any{"before": "ann"}, "title": map[string]any{"before": "Dev"},
			"active": map[string]any{"before": true}, "password": map[string]any{"before": "[redacted]"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := userDiff(tc.before, tc.after)
			if strings.Contains(string(raw), "$2a$") {
				t.Fatalf("diff holds a hash: %s", raw)
			}
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("diff %s, want %v", raw, tc.want)
			}
			if emptyDiff(raw) != (len(tc.want) == 0) {
				t.Errorf("emptyDiff(%s) = %v", raw, emptyDiff(raw))
			}
		})
	}
}

func TestMembersDetailIsBounded(t *testing.T) {
	ids := func(n int, prefix string) []MembershipChange {
		out := make([]MembershipChange, n)
		for i := range out {
			out[i] = MembershipChange{MemberID: fmt.Sprint(prefix, i), Added: prefix == "a"}
		}
		return out
	}
	for _, tc := range []struct {
		name                 string
		added, removed       int
		keptAdd, keptRemoved int
	}{
		{"none", 0, 0, 0, 0},
		{"small", 3, 2, 3, 2},
		{"at the bound", maxAuditIDs, 0, maxAuditIDs, 0},
		{"beyond the bound", maxAuditIDs + 500, maxAuditIDs * 3, maxAuditIDs, maxAuditIDs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d memberDetail
			if err := json.Unmarshal(membersDetail(append(ids(tc.added, "a"), ids(tc.removed, "r")...)), &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Added) != tc.keptAdd || len(d.Removed) != tc.keptRemoved ||
				d.AddedCount != tc.added || d.RemovedCount != tc.removed {
				t.Errorf("kept %d/%d of %d/%d, want %d/%d", len(d.Added), len(d.Removed), d.AddedCount, d.RemovedCount,
					tc.keptAdd, tc.keptRemoved)
			}
			if tc.added > 0 && d.Added[0] != "a0" {
				t.Errorf("first added %q, want the first of the change", d.Added[0])
			}
		})
	}
}
