package imports

import (
	"context"
	"fmt"

	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/orgs"
)

// otherProblems lists what else is wrong with a line that already has a problem and is
// not planned further, so that a dry run names every problem of a line at once: its
// first org, its role and its named connection are looked up, each unless the line's
// problems already name that column. What depends on the rest of the plan (orgs the
// file creates, people on other lines) is not judged for such a line.
func (im *Importer) otherProblems(ctx context.Context, row ImportRow, rep *ImportReport,
	lookupOrg func(slug string) (*orgs.Org, error), roleByKey func(key string) (*orgs.Role, error),
	bad func(line int, column, format string, args ...any)) error {
	flagged := map[string]bool{}
	for _, p := range rep.Problems {
		if p.Line == row.Line {
			flagged[p.Column] = true
		}
	}
	if !flagged["org_path"] && len(row.OrgPath) > 0 {
		o, err := lookupOrg(row.OrgPath[0])
		if err != nil {
			return err
		}
		if o == nil {
			bad(row.Line, "org_path", "org %q does not exist; the path starts at an existing org", row.OrgPath[0])
		}
	}
	if !flagged["role"] && row.Role != "" {
		role, err := roleByKey(row.Role)
		if err != nil {
			return err
		}
		if msg := roleProblem(row.Role, role); msg != "" {
			bad(row.Line, "role", "%s", msg)
		}
	}
	if !flagged["connection"] && row.Connection != "" {
		_, err := im.Orgs.ConnectionBySlug(ctx, row.Connection)
		if orgscim.ErrorCode(err) == orgscim.NotFound {
			bad(row.Line, "connection", "no connection %q", row.Connection)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// roleProblem is what stops an import line from granting the role with key (nil: no
// such role), or "".
func roleProblem(key string, role *orgs.Role) string {
	switch {
	case role == nil:
		return fmt.Sprintf("unknown role %q", key)
	case role.Privileged:
		return fmt.Sprintf("the privileged role %q is granted only through an approved elevation", role.Key)
	}
	return ""
}
