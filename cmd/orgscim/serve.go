package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/provisioning"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sqlstore"
)

// httpConfig is what the HTTP server needs besides its database.
type httpConfig struct {
	BodyLimit      string        // echo's notation, e.g. "1M"
	RequestTimeout time.Duration // per request; well under the 60 s Entra waits
	Now            func() time.Time
}

// newHandler wires the HTTP application: SCIM, health and readiness. This is the one
// place where domain services, storage and adapters meet.
func newHandler(db *sqlstore.DB, logger *slog.Logger, cfg httpConfig) *echo.Echo {
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "2M"
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	dir := &orgs.Directory{Store: db.Orgs(), Now: cfg.Now}
	users := &provisioning.Users{Store: db.Users(), Tx: db, Now: cfg.Now}
	access := &orgs.Access{Store: db.Access(), Users: users, Tx: db, Now: cfg.Now}
	// Grants follow memberships and user status in the transaction of the SCIM request.
	users.Observer = access
	groups := &provisioning.Groups{Store: db.Groups(), Tx: db, Observer: access, Now: cfg.Now}
	s := &scim.Server{Auth: dir, Users: users, Groups: groups, Logger: logger}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Pre(scim.CanonicalPath)
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if strings.HasPrefix(c.Request().URL.Path, scim.Prefix) {
			s.ErrorHandler(err, c)
			return
		}
		apiError(logger, err, c)
	}
	e.Use(middleware.RequestID())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			logger.Error("panic", slog.String("error", err.Error()), slog.String("stack", string(stack)))
			return err
		}}))
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{Timeout: cfg.RequestTimeout}))
	e.Use(accessLog(logger))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := db.Ready(ctx); err != nil {
			logger.Warn("not ready", slog.String("error", err.Error()))
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready", "database": db.Engine()})
	})
	s.Register(e)
	return e
}

// apiError answers errors outside SCIM as small JSON documents.
func apiError(logger *slog.Logger, err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code := http.StatusInternalServerError
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
	} else {
		logger.Error("internal error", slog.String("route", c.Path()), slog.String("error", err.Error()))
	}
	_ = c.JSON(code, map[string]string{"error": http.StatusText(code)})
}

// accessLog writes one structured line per request. It logs the route pattern, never the
// query string, so filter values and tokens stay out of the logs.
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.String("connection", c.Param("conn")),
				slog.Int("status", c.Response().Status),
				slog.Duration("duration", time.Since(start)))
			return nil
		}
	}
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, dbURL := newFlags("serve", stderr)
	addr := fs.String("addr", envOr("ORGSCIM_ADDR", "127.0.0.1:8080"), "listen address (env ORGSCIM_ADDR)")
	if err := parse(fs, args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	db, err := open(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	e := newHandler(db, logger, httpConfig{})
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("database", db.Engine()))
	fmt.Fprintf(stdout, "orgscim listening on http://%s (%s)\n", ln.Addr(), db.Engine())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, let in-flight requests finish; a write that was acknowledged has
	// committed before its response, so nothing acknowledged is lost.
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	return nil
}
