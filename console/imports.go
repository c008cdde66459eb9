package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/imports"
	"github.com/orgscim/orgscim/provisioning"
)

const (
	// importLimit bounds an import's apply, which runs on after its request has answered.
	importLimit = 5 * time.Minute
	// importKept is how long a finished import's outcome stays to be read.
	importKept = time.Hour
)

type importView struct {
	Problem string // about the file as a whole, next to the file field
	Name    string
	Report  *imports.ImportReport
	// File is the checked file, base64 (URL alphabet, unpadded), carried by the apply
	// form so that exactly what was checked is applied; SHA256 is its hash.
	File, SHA256 string
	Changes      int // orgs, users and grants the file would create or replace
	Job          *importJob
}

// importJob is an import being applied, or applied, for one session. It lives in the
// memory of the replica that runs it.
type importJob struct {
	ID, Session string
	Name        string
	Rows        int
	Started     time.Time

	mu       sync.Mutex
	finished time.Time
	report   *imports.ImportReport
	err      error
}

func (j *importJob) outcome() (done bool, rep *imports.ImportReport, err error, finished time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return !j.finished.IsZero(), j.report, j.err, j.finished
}

// importJobView is the job as its page shows it.
type importJobView struct {
	ID, Name string
	Rows     int
	Started  time.Time
	Running  string // how long it has run, while it runs
	Done     bool
	Report   *imports.ImportReport
	Error    string
}

func (s *Server) importerOf(c echo.Context) error {
	if s.Imports == nil {
		return orgscim.Errorf(orgscim.NotImplemented, "this server imports no spreadsheets")
	}
	if importer(person(c)) == nil {
		return orgscim.Errorf(orgscim.Forbidden, "importing needs an operator, or a delegation that may manage members")
	}
	return nil
}

func (s *Server) importPage(c echo.Context) error {
	if err := s.importerOf(c); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "imports", view{Title: "Import a spreadsheet", Page: importView{}})
}

// readUpload reads the uploaded file with the admin API's limits and messages.
func readUpload(c echo.Context) (name string, data []byte, problem string, err error) {
	fh, err := c.FormFile("file")
	if err != nil {
		if errors.Is(err, http.ErrMissingFile) {
			return "", nil, "choose a CSV file to check", nil
		}
		return "", nil, "", orgscim.Errorf(orgscim.InvalidSyntax, "the upload could not be read: send the form again")
	}
	if fh.Size > imports.MaxImportBytes {
		return fh.Filename, nil, fmt.Sprintf("the file is larger than %d bytes; split it", imports.MaxImportBytes), nil
	}
	f, err := fh.Open()
	if err != nil {
		return "", nil, "", err
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, imports.MaxImportBytes+1))
	if err != nil {
		return "", nil, "", err
	}
	switch {
	case len(data) > imports.MaxImportBytes:
		return fh.Filename, nil, fmt.Sprintf("the file is larger than %d bytes; split it", imports.MaxImportBytes), nil
	case len(data) == 0:
		return fh.Filename, nil, "the file is empty", nil
	case bytes.IndexByte(data, 0) >= 0:
		return fh.Filename, nil, "the file holds a NUL byte: save it as CSV text (UTF-8)", nil
	}
	return fh.Filename, data, "", nil
}

// checkImport is the dry run of POST /api/v1/imports?dry_run=true: every line's plan
// and every problem, changing nothing.
func (s *Server) checkImport(c echo.Context) error {
	ctx := c.Request().Context()
	if err := s.importerOf(c); err != nil {
		return err
	}
	name, data, problem, err := readUpload(c)
	if err != nil {
		return err
	}
	v := importView{Name: name, Problem: problem}
	if problem != "" {
		return s.render(c, http.StatusBadRequest, "imports", view{Title: "Import a spreadsheet", Page: v})
	}
	rep, err := s.Imports.Import(ctx, *importer(person(c)), data, true)
	if err != nil {
		return err
	}
	v.Report = rep
	v.Changes = rep.OrgsCreated + rep.UsersCreated + rep.GrantsCreated + rep.GrantsReplaced
	if len(rep.Problems) == 0 && v.Changes > 0 {
		v.File, v.SHA256 = base64.RawURLEncoding.EncodeToString(data), rep.FileSHA256
	}
	code := http.StatusOK
	if len(rep.Problems) > 0 {
		code = http.StatusBadRequest
	}
	return s.render(c, code, "imports", view{Title: "Import a spreadsheet", Page: v})
}

// applyImport applies the file a dry run showed, in the background, and sends the
// browser to the job's page, which reloads itself until the import has finished. The
// import is one transaction: it applies whole or not at all.
func (s *Server) applyImport(c echo.Context) error {
	if err := s.importerOf(c); err != nil {
		return err
	}
	p := person(c)
	data, err := base64.RawURLEncoding.DecodeString(c.FormValue("file"))
	sum := sha256.Sum256(data)
	if err != nil || len(data) == 0 || len(data) > imports.MaxImportBytes || hex.EncodeToString(sum[:]) != c.FormValue("sha256") {
		return orgscim.Errorf(orgscim.Invalid, "this is not the file that was checked: upload it and check it again")
	}
	by := *importer(p)
	now := s.now()
	job := &importJob{ID: provisioning.NewID(), Session: p.Session.ID, Name: c.FormValue("name"), Started: now,
		Rows: bytes.Count(data, []byte("\n"))}
	s.keepJob(job, now)
	// The request's values (its audit source: the session as actor, the request id)
	// go with it; its deadline does not.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), importLimit)
	go func() {
		defer cancel()
		rep, err := s.Imports.Import(ctx, by, data, false)
		job.mu.Lock()
		defer job.mu.Unlock()
		job.report, job.err, job.finished = rep, err, s.now()
	}()
	return c.Redirect(http.StatusSeeOther, Prefix+"/imports/jobs/"+url.PathEscape(job.ID))
}

// keepJob records job and forgets the jobs finished more than importKept ago.
func (s *Server) keepJob(job *importJob, now time.Time) {
	s.importJobs.Range(func(k, v any) bool {
		if done, _, _, at := v.(*importJob).outcome(); done && now.Sub(at) > importKept {
			s.importJobs.Delete(k)
		}
		return true
	})
	s.importJobs.Store(job.ID, job)
}

func (s *Server) importJob(c echo.Context) error {
	if err := s.importerOf(c); err != nil {
		return err
	}
	v, ok := s.importJobs.Load(c.Param("id"))
	job, _ := v.(*importJob)
	if !ok || job.Session != person(c).Session.ID {
		return orgscim.Errorf(orgscim.NotFound, "no import %q in this session", c.Param("id"))
	}
	done, rep, err, _ := job.outcome()
	jv := importJobView{ID: job.ID, Name: job.Name, Rows: job.Rows, Started: job.Started, Done: done, Report: rep}
	code := http.StatusOK
	switch {
	case !done:
		jv.Running = s.now().Sub(job.Started).Round(time.Second).String()
		// No script runs in the console: the page asks the browser to load it again.
		c.Response().Header().Set("Refresh", "1")
	case err != nil:
		jv.Error = "Something went wrong on our side; nothing was imported. Check the file again."
		if orgscim.ErrorCode(err) != orgscim.Internal {
			jv.Error = orgscim.ErrorMessage(err) + " Nothing was imported."
		} else {
			s.logger().Error("console import failed", "import", job.ID, "error", err.Error())
		}
		code = http.StatusInternalServerError
	case len(rep.Problems) > 0:
		jv.Error = fmt.Sprintf("The file has %d problem(s) now; nothing was imported. Check it again.", len(rep.Problems))
		code = http.StatusConflict
	}
	return s.render(c, code, "importjob", view{Title: "Import", Page: jv})
}
