package scim

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/orgs"
)

// RequestRecorder receives every authenticated SCIM request once it has been answered,
// for the connection's health. It must not block: it runs on the request's goroutine.
type RequestRecorder interface {
	Record(connhealth.Entry)
	// RecordRejected counts a request to /scim/v2/{slug} whose bearer token was refused.
	RecordRejected(slug string, at time.Time)
}

// RecordRequests is an echo Pre middleware that hands each authenticated SCIM request,
// with the start of its bodies, to s.Health after the response has been written — after
// the error handler, so the log shows the status and SCIM error the IdP received. No
// header is recorded, so the bearer token never is. Requests that fail authentication
// are only counted, by the URL's connection: anyone can send them, and in the log they
// would push a partner's own requests out.
func (s *Server) RecordRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.Health == nil || !strings.HasPrefix(c.Request().URL.Path, Prefix) {
			return next(c)
		}
		start := time.Now()
		req := c.Request()
		var body *captureReader
		if req.Body != nil && req.Body != http.NoBody {
			body = &captureReader{ReadCloser: req.Body}
			req.Body = body
		}
		res := c.Response()
		out := &captureWriter{ResponseWriter: res.Writer}
		res.Writer = out
		err := next(c)
		if err != nil {
			// Answer now, as echo would after this middleware, so that the entry holds
			// the answer; the error is handled.
			c.Error(err)
		}
		res.Writer = out.ResponseWriter
		conn, ok := c.Get(connectionKey).(*orgs.Connection)
		if !ok {
			if slug := c.Param("conn"); res.Status == http.StatusUnauthorized && plausibleSlug(slug) {
				s.Health.RecordRejected(slug, s.now())
			}
			return nil
		}
		e := connhealth.Entry{
			ConnectionID: conn.ID, At: s.now(), Method: req.Method, Path: req.URL.Path, RawQuery: req.URL.RawQuery,
			Status: res.Status, Latency: time.Since(start), RequestID: res.Header().Get(echo.HeaderXRequestID),
			Push:         isPush(req.Method, req.URL.Path),
			ResponseBody: out.buf, ResponseCut: out.cut,
		}
		if body != nil {
			e.RequestBody, e.RequestCut = body.buf, body.cut
		}
		s.Health.Record(e)
		return nil
	}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// isPush tells a change from a read: .search is a POST that reads.
func isPush(method, path string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return !strings.HasSuffix(path, "/.search")
	}
	return false
}

// captureReader keeps the first connhealth.CaptureLimit bytes read through it.
type captureReader struct {
	io.ReadCloser
	buf []byte
	cut bool
}

func (r *captureReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if room := connhealth.CaptureLimit - len(r.buf); n > room {
		r.buf = append(r.buf, p[:max(room, 0)]...)
		r.cut = true
	} else {
		r.buf = append(r.buf, p[:n]...)
	}
	return n, err
}

// captureWriter keeps the first connhealth.CaptureLimit bytes of the response body.
type captureWriter struct {
	http.ResponseWriter
	buf []byte
	cut bool
}

func (w *captureWriter) Write(p []byte) (int, error) {
	if room := connhealth.CaptureLimit - len(w.buf); len(p) > room {
		w.buf = append(w.buf, p[:max(room, 0)]...)
		w.cut = true
	} else {
		w.buf = append(w.buf, p...)
	}
	return w.ResponseWriter.Write(p)
}

func (w *captureWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// plausibleSlug reports whether s could name a connection, so that refused requests to
// URLs no connection could have are not even counted.
func plausibleSlug(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
