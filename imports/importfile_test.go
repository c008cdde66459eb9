package imports

import (
	"fmt"
	"github.com/orgscim/orgscim/orgs"
	"strings"
	"testing"
	"time"
)

func TestParseImportReportsEachProblemWithItsLine(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const header = "org_path,user_name,email,role,expires_at\n"
	for _, tc := range []struct {
		name, file string
		want       []string // "line column" of each problem, in order
	}{
		{"valid", header + "acme/emea,ann,ann@x.example,viewer,2031-06-30\nacme,,,,\n", nil},
		{"empty file", "", []string{"1 "}},
		{"header only", header, []string{"2 "}},
		{"no org_path column", "user_name,role\nann,viewer\n", []string{"1 org_path"}},
		{"unknown column", "org_path,colour\nacme,red\n", []string{"1 colour"}},
		{"column twice", "org_path,role,role\nacme,a,b\n", []string{"1 role"}},
		{"bad slug", header + "Acme Corp,ann,,,\n", []string{"2 org_path"}},
		{"missing org_path", header + ",ann,,,\n", []string{"2 org_path"}},
		{"bad e-mail", header + "acme,,not-an-address,,\n", []string{"2 email"}},
		{"role without person", header + "acme,,,viewer,\n", []string{"2 role"}},
		{"bad date", header + "acme,ann,,viewer,2031-02-30\n", []string{"2 expires_at"}},
		{"past date", header + "acme,ann,,viewer,2029-12-31\n", []string{"2 expires_at"}},
		{"expiry without role", header + "acme,ann,,,2031-01-01\n", []string{"2 expires_at"}},
		{"several lines", header + "acme,ann,,viewer,\nBAD,ann,,,\nacme,bob,,viewer,soon\n", []string{"3 org_path", "4 expires_at"}},
		{"wrong field count", header + "acme,ann\n", []string{"2 "}},
		// The limits SCIM applies: a value PostgreSQL's index refuses is the line's problem.
		{"over-long values", header + "acme," + strings.Repeat("a", 600) + "," + strings.Repeat("b", 1100) + "@x.example,,\n",
			[]string{"2 user_name", "2 email"}},
		{"quoted newline keeps line numbers", header + "acme,\"ann\nsmith\",,,\nacme,bob,,,nope\n", []string{"4 expires_at"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := ParseImport([]byte(tc.file), now)
			var got []string
			for _, p := range problems {
				got = append(got, fmt.Sprintf("%d %s", p.Line, p.Column))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("problems %v, want %v (%v)", got, tc.want, problems)
			}
		})
	}
}

func TestParseImportDefaults(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rows, problems := ParseImport([]byte("\xef\xbb\xbfOrg_Path,Email,Role,Expires_At\n/acme/emea/,ann@x.example,viewer,2031-06-30\nacme,bob@x.example,viewer,2031-06-30T12:00:00+02:00\n"), now)
	if len(problems) != 0 || len(rows) != 2 {
		t.Fatalf("rows %v problems %v", rows, problems)
	}
	if r := rows[0]; strings.Join(r.OrgPath, "/") != "acme/emea" || r.UserName != "ann@x.example" || r.Line != 2 ||
		!r.Expires.Equal(time.Date(2031, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a date holds to the end of that day, the user name defaults to the e-mail: %+v", r)
	}
	if r := rows[1]; !r.Expires.Equal(time.Date(2031, 6, 30, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("an RFC 3339 time: %v", r.Expires)
	}
}

func TestParseImportCapsTheFile(t *testing.T) {
	now := time.Now()
	big := "org_path\n" + strings.Repeat("acme\n", MaxImportRows+1)
	if _, p := ParseImport([]byte(big), now); len(p) != 1 || !strings.Contains(p[0].Message, "more than") {
		t.Errorf("too many rows: %v", p)
	}
	huge := make([]byte, MaxImportBytes+1)
	if _, p := ParseImport(huge, now); len(p) != 1 || !strings.Contains(p[0].Message, "larger than") {
		t.Errorf("too large: %v", p)
	}
}

func TestSafeCellDefusesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"": "", "ann@x.example": "ann@x.example", "2031-01-01T00:00:00Z": "2031-01-01T00:00:00Z",
	} {
		if got := orgs.SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImportDelimiterFromTheHeader(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         rune
	}{
		{"comma", "org_path,email,role", ','},
		{"semicolon (European Excel)", "org_path;email;role", ';'},
		{"tab (pasted from a spreadsheet)", "org_path\temail\trole", '\t'},
		{"semicolon with quoted header cells", `org_path;"email";"role"`, ';'},
		{"one column", "org_path", ','},
		{"nothing known: read as commas, and reported so", "a;b;c", ','},
		{"more known names win", "org_path;email,role;reason", ';'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := importDelimiter([]byte(tc.header + "\nacme,x,y\n")); got != tc.want {
				t.Errorf("%q: %q, want %q", tc.header, got, tc.want)
			}
		})
	}
	// A semicolon file parses as the comma file does.
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rows, problems := ParseImport([]byte("org_path;email;role;reason\nacme/emea;ann@x.example;viewer;\"finance, audit\"\n"), now)
	if len(problems) != 0 || len(rows) != 1 || rows[0].Email != "ann@x.example" || rows[0].Reason != "finance, audit" {
		t.Errorf("rows %+v problems %v", rows, problems)
	}
}
