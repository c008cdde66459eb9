package adminapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/imports"
)

// ImportProblem is what is wrong with one line of an import file.
type ImportProblem struct {
	Line    int    `json:"line" doc:"1 is the header row; 0 the file as a whole"`
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

// ImportLine says what an import does (or would do) for one line.
type ImportLine struct {
	Line        int        `json:"line"`
	Org         string     `json:"org" doc:"the org's slug"`
	OrgAction   string     `json:"org_action" enum:"create,exists"`
	Connection  string     `json:"connection,omitempty" doc:"connection slug"`
	UserName    string     `json:"user_name,omitempty"`
	UserID      string     `json:"user_id,omitempty" doc:"the user's SCIM id (planned, on a dry run)"`
	UserAction  string     `json:"user_action,omitempty" enum:"create,exists"`
	Role        string     `json:"role,omitempty" doc:"role key"`
	GrantAction string     `json:"grant_action,omitempty" enum:"create,replace,unchanged"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

// ImportReport is the outcome of an import or of its dry run.
type ImportReport struct {
	DryRun         bool            `json:"dry_run"`
	Applied        bool            `json:"applied" doc:"whether anything was stored: false on a dry run and when the file changes nothing"`
	BatchID        string          `json:"batch_id,omitempty" doc:"the import batch; the source_id of the grants it made"`
	FileSHA256     string          `json:"file_sha256"`
	Rows           int             `json:"rows"`
	Problems       []ImportProblem `json:"problems" doc:"every problem found, by line; a file with any is not imported"`
	Lines          []ImportLine    `json:"lines"`
	OrgsCreated    int             `json:"orgs_created"`
	UsersCreated   int             `json:"users_created"`
	GrantsCreated  int             `json:"grants_created"`
	GrantsReplaced int             `json:"grants_replaced" doc:"grants of an earlier import with another expiry, revoked and granted anew"`
	Unchanged      int             `json:"unchanged" doc:"lines that change nothing"`
}

// ImportReportJSON is the wire form of an import report (the CLI prints it too).
func ImportReportJSON(r *imports.ImportReport) ImportReport {
	out := ImportReport{DryRun: r.DryRun, Applied: r.Applied, BatchID: r.BatchID, FileSHA256: r.FileSHA256, Rows: r.Rows,
		Problems: []ImportProblem{}, Lines: []ImportLine{}, OrgsCreated: r.OrgsCreated, UsersCreated: r.UsersCreated,
		GrantsCreated: r.GrantsCreated, GrantsReplaced: r.GrantsReplaced, Unchanged: r.Unchanged}
	for _, p := range r.Problems {
		out.Problems = append(out.Problems, ImportProblem(p))
	}
	for _, l := range r.Lines {
		out.Lines = append(out.Lines, ImportLine(l))
	}
	return out
}

// maxListedProblems bounds the problems an error message names.
const maxListedProblems = 10

// ImportProblemsError is the error of a real run over a file with problems.
func ImportProblemsError(r *imports.ImportReport) error {
	var names []string
	for i, p := range r.Problems {
		if i == maxListedProblems {
			names = append(names, "...")
			break
		}
		names = append(names, p.String())
	}
	return orgscim.Errorf(orgscim.Invalid, "the file has %d problem(s); nothing was imported (a dry run lists them all): %s",
		len(r.Problems), strings.Join(names, "; "))
}

func (s *Server) importFile(c echo.Context) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "text/csv" && mt != "text/plain" {
			return orgscim.Errorf(orgscim.InvalidSyntax, "the body must be CSV (Content-Type: text/csv), not %s", mt)
		}
	}
	dryRun := false
	switch v := c.QueryParam("dry_run"); v {
	case "", "false":
	case "true":
		dryRun = true
	default:
		return orgscim.Errorf(orgscim.Invalid, "dry_run must be true or false, not %q", v)
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, imports.MaxImportBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return orgscim.Errorf(orgscim.TooLarge, "the file is larger than %d bytes; split it", imports.MaxImportBytes)
		}
		return err
	}
	if len(data) > imports.MaxImportBytes {
		return orgscim.Errorf(orgscim.TooLarge, "the file is larger than %d bytes; split it", imports.MaxImportBytes)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return orgscim.Errorf(orgscim.InvalidValue, "the file holds a NUL byte: save it as CSV text (UTF-8)")
	}
	rep, err := s.Imports.Import(req.Context(), principal(c), data, dryRun)
	if err != nil {
		return err
	}
	if !dryRun && len(rep.Problems) > 0 {
		return ImportProblemsError(rep)
	}
	return c.JSON(http.StatusOK, ImportReportJSON(rep))
}

func (s *Server) exportAccess(c echo.Context) error {
	ctx := c.Request().Context()
	root, err := s.Exports.Subtree(ctx, principal(c), c.QueryParam("org"))
	if err != nil {
		return err
	}
	name := "access.csv"
	if root != nil {
		name = "access-" + root.Slug + ".csv"
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf("attachment; filename=%q", name))
	c.Response().WriteHeader(http.StatusOK)
	if err := s.Exports.WriteCSV(ctx, root, c.Response()); err != nil {
		// The status is sent; a cut-off export is all the client can see, so the log
		// says why.
		s.logger().Error("access export failed", "error", err.Error())
	}
	return nil
}
