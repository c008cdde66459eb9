package provisioning

import (
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// EnterpriseURN is the schema URN of the enterprise user extension (RFC 7643 §4.3).
const EnterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// User is one person as the connection's IdP describes them.
//
// Attributes holds the whole resource as the IdP sent it, with attribute names in their
// canonical case and without id, meta and password; the other fields are derived from it
// (see Index) so that the store can index, filter and sort them.
type User struct {
	ID           string
	ConnectionID string
	Attributes   map[string]any

	UserName    string
	ExternalID  string
	DisplayName string
	GivenName   string
	FamilyName  string
	Email       string // the primary e-mail, else the first one
	Active      bool

	// PasswordHash is set only when the IdP sent a password; it is never returned.
	PasswordHash string

	// OrgID is the org the connection's placement rules put the user in; it is
	// maintained by placement, not by the IdP.
	OrgID string

	// Unclaimed marks a user created ahead of its IdP (imported, or an onboarded
	// administrator) that the IdP has not claimed yet; it is read from storage.
	Unclaimed bool
	// InNoGroup is true when the read that returned the user found no membership of
	// it: a user with no direct membership is in no group, nested or not, so its
	// groups need not be asked for. False says nothing (a user built in memory).
	InNoGroup bool
	// NoQuarantine is true when the read that returned the user found no quarantine
	// record of it, so a write that clears the domain rule has none to clear. False
	// says nothing (a user built in memory).
	NoQuarantine bool

	Version      int64
	Created      time.Time
	LastModified time.Time
	Deleted      *time.Time // set on a tombstone: removed from SCIM, kept for restore by externalId
}

// Index copies the indexed attributes out of Attributes. Call it after every change of
// Attributes.
func (u *User) Index() {
	a := u.Attributes
	u.UserName = str(a["userName"])
	u.ExternalID = str(a["externalId"])
	u.DisplayName = str(a["displayName"])
	u.GivenName, u.FamilyName = "", ""
	if name, ok := a["name"].(map[string]any); ok {
		u.GivenName = str(name["givenName"])
		u.FamilyName = str(name["familyName"])
	}
	u.Email = ""
	if emails, ok := a["emails"].([]any); ok {
		for i, e := range emails {
			m, _ := e.(map[string]any)
			if m == nil {
				continue
			}
			if p, _ := m["primary"].(bool); p || i == 0 {
				u.Email = str(m["value"])
				if p {
					break
				}
			}
		}
	}
	// RFC 7643 leaves a missing active to the provider; a user the IdP pushed without it
	// is treated as active, which is what Entra and Okta expect.
	u.Active = true
	if v, ok := a["active"].(bool); ok {
		u.Active = v
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

var folder = cases.Fold()

// FoldKey is the form in which case-insensitive unique values (userName, a group's
// displayName) are compared: Unicode NFKC, then full case folding, so that "ÅSA",
// "åsa" and "A\u030asa" are one name.
func FoldKey(s string) string {
	return Fold(strings.TrimSpace(s))
}

// Fold is FoldKey without trimming: the form of a substring to search for in folded
// keys, where a space is a character like any other.
func Fold(s string) string {
	return folder.String(norm.NFKC.String(s))
}
