package imports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
)

// The import file is a CSV spreadsheet with a header row, its cells separated by commas,
// semicolons or tabs (whichever the header row uses). Its columns, in any order (only
// org_path is required):
var importColumns = []string{
	"org_path",    // slugs from an existing org down, "acme/emea"; missing orgs below it are created
	"org_name",    // the name of the last org on the path, when the import creates it
	"connection",  // the slug of the user's connection; empty: the one bound nearest above the org
	"user_name",   // the person's userName in the connection; empty: the e-mail
	"email",       // work e-mail, primary
	"external_id", // the IdP's id of the person, when known
	"given_name",
	"family_name",
	"role",       // a role key; empty for a row that only places a person or an org
	"expires_at", // RFC 3339 time, or a date: the grant holds to the end of that day (UTC)
	"reason",     // why the person holds the role; recorded on the grant
}

// Limits of one import: spreadsheets of a partner's people, applied in one transaction.
const (
	MaxImportBytes = 1 << 20
	MaxImportRows  = 5000
)

// ImportRow is one data line of an import file.
type ImportRow struct {
	Line       int
	OrgPath    []string
	OrgName    string
	Connection string
	UserName   string
	Email      string
	ExternalID string
	GivenName  string
	FamilyName string
	Role       string
	Expires    *time.Time
	Reason     string
	// Invalid: the line has a problem of its own and is not resolved further.
	Invalid bool
}

// ImportProblem is what is wrong with one line (0: the file as a whole).
type ImportProblem struct {
	Line    int
	Column  string
	Message string
}

func (p ImportProblem) String() string {
	s := fmt.Sprintf("line %d", p.Line)
	if p.Column != "" {
		s += " (" + p.Column + ")"
	}
	return s + ": " + p.Message
}

// ParseImport reads an import file: every line's syntax is checked and every problem
// reported with its line; now judges expiry dates. A file that cannot be read as CSV
// at all stops at the first broken line.
func ParseImport(data []byte, now time.Time) ([]ImportRow, []ImportProblem) {
	if len(data) > MaxImportBytes {
		return nil, []ImportProblem{{Message: fmt.Sprintf("the file is larger than %d bytes; split it", MaxImportBytes)}}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // spreadsheets save a BOM
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = importDelimiter(data)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, []ImportProblem{{Line: 1, Message: "the file is empty; it needs a header row"}}
	}
	if err != nil {
		return nil, []ImportProblem{csvProblem(err)}
	}
	var problems []ImportProblem
	col := map[string]int{}
	for i, h := range header {
		h = columnName(h)
		switch {
		case !slices.Contains(importColumns, h):
			problems = append(problems, ImportProblem{Line: 1, Column: h, Message: fmt.Sprintf("unknown column %q; the columns are %s", h, strings.Join(importColumns, ", "))})
		case col[h] != 0:
			problems = append(problems, ImportProblem{Line: 1, Column: h, Message: "column named twice"})
		}
		col[h] = i + 1
	}
	if col["org_path"] == 0 {
		problems = append(problems, ImportProblem{Line: 1, Column: "org_path", Message: "the header row needs an org_path column"})
	}
	if len(problems) > 0 {
		return nil, problems
	}
	var rows []ImportRow
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return rows, append(problems, csvProblem(err))
		}
		line, _ := r.FieldPos(0)
		if len(rows) == MaxImportRows {
			return rows, append(problems, ImportProblem{Line: line, Message: fmt.Sprintf("more than %d rows; split the file", MaxImportRows)})
		}
		get := func(name string) string {
			if i := col[name]; i > 0 {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		var row ImportRow
		bad := func(column, format string, args ...any) {
			row.Invalid = true
			problems = append(problems, ImportProblem{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
		}
		row = ImportRow{Line: line, OrgName: get("org_name"), Connection: get("connection"), UserName: get("user_name"),
			Email: get("email"), ExternalID: get("external_id"), GivenName: get("given_name"), FamilyName: get("family_name"),
			Role: get("role"), Reason: get("reason")}
		if p := strings.Trim(get("org_path"), "/"); p == "" {
			bad("org_path", "org_path is required")
		} else {
			for _, s := range strings.Split(p, "/") {
				if orgs.CheckSlug(s) != nil {
					bad("org_path", "%q is not an org slug (lower-case letters, digits and hyphens)", s)
				}
				row.OrgPath = append(row.OrgPath, s)
			}
		}
		if row.UserName == "" {
			row.UserName = row.Email
		}
		if row.Email != "" && (!strings.Contains(row.Email, "@") || strings.ContainsAny(row.Email, " \t")) {
			bad("email", "%q is not an e-mail address", row.Email)
		}
		// The limits SCIM applies to the same values, so that both engines refuse an
		// over-long value alike, and as a problem of its line.
		if len(row.UserName) > provisioning.MaxNameBytes {
			bad("user_name", "user_name is longer than %d bytes", provisioning.MaxNameBytes)
		} else if len(provisioning.FoldKey(row.UserName)) > provisioning.MaxKeyBytes {
			bad("user_name", "user_name is longer than %d bytes once normalised (NFKC, case-folded)", provisioning.MaxKeyBytes)
		}
		for _, c := range [][2]string{{"email", row.Email}, {"external_id", row.ExternalID}, {"given_name", row.GivenName},
			{"family_name", row.FamilyName}} {
			if len(c[1]) > provisioning.MaxIndexedBytes {
				bad(c[0], "%s is longer than %d bytes", c[0], provisioning.MaxIndexedBytes)
			}
		}
		if row.UserName == "" {
			for _, c := range []string{"connection", "external_id", "given_name", "family_name", "role", "expires_at"} {
				if get(c) != "" {
					bad(c, "%s needs a person: give user_name or email", c)
				}
			}
		}
		if e := get("expires_at"); e != "" {
			t, err := parseExpiry(e)
			switch {
			case err != nil:
				bad("expires_at", "%q is not an RFC 3339 time (2027-06-30T17:00:00Z) or a date (2027-06-30)", e)
			case !t.After(now):
				bad("expires_at", "%s is not in the future", e)
			case row.Role == "":
				bad("expires_at", "an expiry needs a role")
			default:
				row.Expires = &t
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 && len(problems) == 0 {
		problems = append(problems, ImportProblem{Line: 2, Message: "the file has a header but no rows"})
	}
	return rows, problems
}

// columnName is a header cell as a column name.
func columnName(h string) string { return strings.ToLower(strings.TrimSpace(h)) }

// importDelimiters are the field separators an import file may use: the comma, the
// semicolon that spreadsheets write where the comma is the decimal separator (European
// Excel), and the tab of text copied out of a spreadsheet.
var importDelimiters = []rune{',', ';', '\t'}

// importDelimiter picks the separator from the header line: the one that splits it into
// the most known column names, the comma when none finds any (the header's problems are
// then reported as they read with commas).
func importDelimiter(data []byte) rune {
	header, _, _ := bytes.Cut(data, []byte("\n"))
	best, most := ',', 0
	for _, d := range importDelimiters {
		r := csv.NewReader(bytes.NewReader(header))
		r.Comma = d
		cells, err := r.Read()
		if err != nil {
			continue
		}
		known := 0
		for _, c := range cells {
			if slices.Contains(importColumns, columnName(c)) {
				known++
			}
		}
		if known > most {
			best, most = d, known
		}
	}
	return best
}

// parseExpiry reads an RFC 3339 time, or a date meaning the end of that day in UTC: a
// spreadsheet's "until 2027-06-30" includes the 30th.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Truncate(time.Millisecond), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, err
	}
	return d.AddDate(0, 0, 1), nil
}

func csvProblem(err error) ImportProblem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return ImportProblem{Line: pe.StartLine, Message: "not valid CSV: " + pe.Err.Error()}
	}
	return ImportProblem{Message: "cannot read the file: " + err.Error()}
}
