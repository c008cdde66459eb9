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
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/orgscim/orgscim"
	"github.com/orgscim/orgscim/adminapi"
	"github.com/orgscim/orgscim/audit"
	"github.com/orgscim/orgscim/authzen"
	"github.com/orgscim/orgscim/connhealth"
	"github.com/orgscim/orgscim/console"
	"github.com/orgscim/orgscim/domains"
	"github.com/orgscim/orgscim/httpmetrics"
	"github.com/orgscim/orgscim/orgs"
	"github.com/orgscim/orgscim/reconcile"
	"github.com/orgscim/orgscim/scim"
	"github.com/orgscim/orgscim/sessions"
	"github.com/orgscim/orgscim/setuppage"
	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
	"github.com/orgscim/orgscim/webhooks"
)

// httpConfig is what the HTTP server needs besides its database.
type httpConfig struct {
	BodyLimit      int64         // the largest request body in bytes; 0 for defaultBodyLimit
	RequestTimeout time.Duration // per request; well under the 60 s Entra waits
	Limits         scim.Limits   // SCIM request limits and the per-connection rate limit
	Now            func() time.Time
	// Health buffers the connections' health (nil: newHandler makes one, flushed about
	// every second, unless NoHealth); TokenExpiryWarning is how long before a token
	// lapses it is reported (0: orgs.DefaultTokenExpiryWarning).
	Health             *connhealth.Recorder
	TokenExpiryWarning time.Duration
	NoHealth           bool // record no connection health: for benchmarks of its cost
	// FourEyes is who may approve a mapping ("" is orgs.FourEyesAll: never its drafter).
	FourEyes orgs.FourEyes
	// Console bounds the console's sessions and sign-in links (zero: sessions.DefaultTimeouts).
	Console sessions.Timeouts
	// PublicURL is the server's address as browsers reach it ("" : from each request).
	PublicURL string
	// DomainProofs prove domain claims (nil: domainProofs of the system resolver).
	DomainProofs []domains.Proof
	// ServiceAccounts is the policy of service accounts (zero: the defaults of orgs).
	ServiceAccounts serviceAccountPolicy
	// SSF is the Shared Signals transmitter's keys and issuer (no keys: not served).
	SSF ssfConfig
}

// defaultRequestTimeout bounds every request, half of the 60 s Entra waits for an answer.
const defaultRequestTimeout = 30 * time.Second

// newHandler wires the HTTP application: SCIM, the admin API, health, readiness and
// metrics. This is the one place where domain services, storage and adapters meet.
func newHandler(db *sqlstore.DB, logger *slog.Logger, cfg httpConfig) *echo.Echo {
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = defaultBodyLimit
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = defaultRequestTimeout
	}
	svc := newServices(db, cfg.Now)
	svc.access.FourEyes = cfg.FourEyes
	if cfg.DomainProofs != nil {
		svc.domains.Proofs = cfg.DomainProofs
	}
	svc.serviceAccounts.MaxLifetime = cfg.ServiceAccounts.ServiceAccountMaxLifetime
	svc.serviceAccounts.OrphanGrace = cfg.ServiceAccounts.ServiceAccountOrphanGrace
	rec := newReconciler(db, cfg.Now)
	rec.Domains = svc.domains
	rec.ServiceAccounts = svc.serviceAccounts
	admin := &adminapi.Server{Directory: svc.dir, Access: svc.access, Delegations: svc.delegations,
		Groups: svc.groups, Logger: logger, Keys: svc.keys, Lists: db.Lists(), Reviews: svc.reviews,
		Imports: svc.imports, Exports: svc.exports, Onboarding: svc.onboarding,
		Reconciler: runsAndApprovals{db.Reconcile(), rec},
		Health:     db.Health(), TokenExpiryWarning: cfg.TokenExpiryWarning, Domains: svc.domains,
		Quarantine: svc.quarantine, Support: svc.support, ServiceAccounts: svc.serviceAccounts,
		MSPs: svc.msps}
	svc.sessions.Timeouts = cfg.Console
	// The console calls the same domain services as the admin API.
	web := &console.Server{Sessions: svc.sessions, Directory: svc.dir, Access: svc.access, Delegations: svc.delegations,
		Users: svc.users, Groups: svc.groups, Reviews: svc.reviews, Onboarding: svc.onboarding, Lists: db.Lists(),
		Logger: logger, PublicURL: cfg.PublicURL}
	web.ServiceAccounts = svc.serviceAccounts
	web.MSP = svc.msps
	web.Ops = console.Ops{Health: db.Health(), Webhooks: consoleWebhooks{webhookService(db), db.Webhooks()},
		Reconciler: runsAndApprovals{db.Reconcile(), rec}, Audit: db.Audit(), Imports: svc.imports, TokenExpiryWarning: cfg.TokenExpiryWarning}
	web.Trust = console.Trust{Domains: svc.domains, Support: svc.support, Quarantine: svc.quarantine}
	admin.SignIns = svc.sessions
	admin.Webhooks = webhookSubscriptions{webhookService(db)}
	admin.Extra = adminapi.ExtraOpenAPI{Paths: authzen.OpenAPIPaths("adminKey"), Schemas: authzen.OpenAPISchemas(),
		Tags: [][2]string{{authzen.Tag, authzen.TagDescription}}}
	pdp := &authzen.Server{Keys: svc.keys, Access: accessDecider{admin}, Batch: accessDecider{admin}, Logger: logger}
	var transmitter *ssf.Server
	if cfg.SSF.Keys != nil {
		transmitter = ssfServer(db, logger, cfg.SSF, cfg.Now)
	}
	limits := cfg.Limits
	if limits.InFlight == 0 {
		// As many SCIM requests at once as the pool has connections: each holds one at a
		// time (TestSCIMOnOneConnection), and the rest wait in arrival order rather
		// than in the pool's random draw.
		limits.InFlight = db.MaxConns()
	}
	s := &scim.Server{Auth: svc.dir, Users: svc.users, Groups: svc.groups, Logger: logger, Limits: limits,
		Activator: svc.dir, Now: cfg.Now}
	// Replicas on one PostgreSQL share each connection's rate-limit bucket there; SQLite
	// is one process, whose buckets stay in its memory.
	if b := db.RateBuckets(); b != nil {
		s.Buckets = b
	}
	if !cfg.NoHealth {
		if cfg.Health == nil {
			cfg.Health = &connhealth.Recorder{Store: db.Health(), Logger: logger}
		}
		s.Health = cfg.Health
	}
	metrics := httpmetrics.New(httpmetrics.Options{
		Connection: scim.ConnectionSlug, DBStats: db.Stats, Statements: db.Statements, Engine: db.Engine(),
	})
	metrics.Registry().MustRegister(newDeliveryCollector(db.Webhooks(), cfg.Now, logger),
		newReconcileCollector(db.Reconcile(), logger), newTokenExpiryCollector(db.Health(), cfg.Now, logger))

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// No trusted proxy is configured, so X-Forwarded-For is the client's own claim: the
	// audit trail records the peer address, which a client cannot forge.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Pre(dropUnsafeRequestID)
	e.Pre(scim.CanonicalPath)
	e.Pre(s.RecordRequests)
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if strings.HasPrefix(c.Request().URL.Path, scim.Prefix) {
			s.ErrorHandler(err, c)
			return
		}
		if p := c.Request().URL.Path; p == adminapi.Prefix || strings.HasPrefix(p, adminapi.Prefix+"/") {
			admin.HandleError(err, c)
			return
		}
		if p := c.Request().URL.Path; p == console.Prefix || strings.HasPrefix(p, console.Prefix+"/") {
			web.HandleError(err, c)
			return
		}
		if authzen.Owns(c.Request().URL.Path) {
			pdp.HandleError(err, c)
			return
		}
		if transmitter != nil && ssf.Owns(c.Request().URL.Path) {
			transmitter.HandleError(err, c)
			return
		}
		apiError(logger, err, c)
	}
	// Outermost first. Metrics and the access log sit outside Recover so that a panic is
	// counted and logged as the 500 it becomes.
	e.Use(middleware.RequestID())
	e.Use(metrics.Middleware())
	e.Use(accessLog(logger))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			logger.Error("panic", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("route", c.Path()), slog.String("error", err.Error()), slog.String("stack", string(stack)))
			return err
		}}))
	e.Use(bodyLimit(cfg.BodyLimit, maxDiscardedBody))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
		Timeout: cfg.RequestTimeout, ErrorHandler: timeoutError}))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := db.Ready(ctx); err != nil {
			logger.Warn("not ready", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("error", err.Error()))
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready", "database": db.Engine()})
	})
	// Unauthenticated, like /healthz: serve it to the monitoring network only (see the
	// usage of serve).
	e.GET("/metrics", echo.WrapHandler(metrics.Handler()))
	s.Register(e)
	admin.Register(e)
	pdp.Register(e)
	if transmitter != nil {
		transmitter.Register(e)
	}
	(&setuppage.Server{Links: svc.onboarding, Logger: logger}).Register(e)
	web.Register(e)
	return e
}

const (
	// defaultBodyLimit is the largest request body; a SCIM user or a PATCH is a few KB,
	// a group with its members well under this.
	defaultBodyLimit = 2 << 20
	// maxDiscardedBody is how much of a refused body the server reads and throws away
	// so that the client reads its 413. Clients such as Python's urllib send the whole
	// body before reading the answer: had the server closed the connection with the body
	// unread, the client's TCP stack would get a reset and lose the 413 with it. A body
	// larger than this is cut off by closing the connection.
	maxDiscardedBody = 16 << 20
)

// bodyLimit refuses a request body over limit with 413: at once when Content-Length
// declares it, else when reading reaches it (http.MaxBytesReader, which the adapters
// recognise). Either way it then reads and discards up to discard bytes of what is left
// before the 413 is written, and marks the connection to close after it.
func bodyLimit(limit, discard int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			body := r.Body
			if r.ContentLength > limit {
				// A client that waits for "100 Continue" (curl does above 1 MB) has
				// sent no body yet and reads the 413 as it is: reading would invite
				// the body only to throw it away.
				if !strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
					drainRefused(c, body, discard)
				} else {
					c.Response().Header().Set(echo.HeaderConnection, "close")
				}
				return echo.ErrStatusRequestEntityTooLarge
			}
			// Passing echo's Response (not the http.ResponseWriter under it) keeps
			// net/http from closing the connection before the rest is drained.
			r.Body = http.MaxBytesReader(c.Response(), body, limit)
			err := next(c)
			if err != nil && tooLarge(err) {
				drainRefused(c, body, discard)
			}
			return err
		}
	}
}

// tooLarge says whether a handler refused its request for the size of its body.
func tooLarge(err error) bool {
	var mb *http.MaxBytesError
	var he *echo.HTTPError
	return errors.As(err, &mb) || orgscim.ErrorCode(err) == orgscim.TooLarge ||
		(errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge)
}

// drainRefused reads and discards up to n bytes of a refused body, and asks for the
// connection to close after the answer: what was not read must not be taken for the
// next request.
func drainRefused(c echo.Context, body io.Reader, n int64) {
	_, _ = io.CopyN(io.Discard, body, n)
	c.Response().Header().Set(echo.HeaderConnection, "close")
}

// timeoutError turns a handler's failure after its request ran out of time into a 503:
// the database calls honour the request's context and fail with its deadline, whatever
// they wrap it in. Domain and routing errors keep their meaning.
func timeoutError(err error, c echo.Context) error {
	var he *echo.HTTPError
	if errors.Is(err, context.DeadlineExceeded) ||
		(errors.Is(c.Request().Context().Err(), context.DeadlineExceeded) &&
			!errors.As(err, &he) && orgscim.ErrorCode(err) == orgscim.Internal) {
		return echo.ErrServiceUnavailable.WithInternal(err)
	}
	return err
}

// dropUnsafeRequestID discards a client's X-Request-ID unless it is a short token, so
// that the request-id middleware issues a fresh one instead of copying arbitrary client
// text into every log line of the request.
func dropUnsafeRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		if id := h.Get(echo.HeaderXRequestID); id != "" && !safeRequestID(id) {
			h.Del(echo.HeaderXRequestID)
		}
		return next(c)
	}
}

func safeRequestID(id string) bool {
	if len(id) > 128 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_.:", r):
		default:
			return false
		}
	}
	return true
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
		logger.Error("internal error", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("route", c.Path()), slog.String("error", err.Error()))
	}
	_ = c.JSON(code, map[string]string{"error": http.StatusText(code)})
}

// accessLog writes one structured line per request. It logs the route pattern, never the
// query string, so filter values and tokens stay out of the logs. A logger that drops
// info lines (--log-level warn) costs a request nothing here: the line's attributes are
// not built.
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !logger.Enabled(c.Request().Context(), slog.LevelInfo) {
				if err := next(c); err != nil {
					c.Error(err)
				}
				return nil
			}
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

// serveCmd runs the HTTP server. Each flag also reads its environment variable, for
// containers.
type serveCmd struct {
	Addr               string        `default:"127.0.0.1:8080" env:"ORGSCIM_ADDR" placeholder:"HOST:PORT" help:"Listen address."`
	RateLimit          float64       `default:"200" env:"ORGSCIM_RATE_LIMIT" placeholder:"N" help:"SCIM requests per second per connection; 0 for no limit."`
	RateBurst          int           `default:"0" env:"ORGSCIM_RATE_BURST" placeholder:"N" help:"SCIM requests a connection may make at once; 0 for twice --rate-limit."`
	RequestTimeout     time.Duration `default:"30s" env:"ORGSCIM_REQUEST_TIMEOUT" placeholder:"DURATION" help:"The longest a request may take, well under the 60s Entra waits."`
	AnalyzeEvery       time.Duration `default:"15s" env:"ORGSCIM_ANALYZE_EVERY" placeholder:"DURATION" help:"How often to refresh the query planner's statistics of tables that changed a lot; 0 leaves it to autovacuum."`
	WebhookInterval    time.Duration `default:"1s" env:"ORGSCIM_WEBHOOK_INTERVAL" placeholder:"DURATION" help:"How often to send due webhook deliveries; 0 sends none."`
	TokenExpiryWarning time.Duration `default:"${token_expiry_warning}" env:"ORGSCIM_TOKEN_EXPIRY_WARNING" placeholder:"DURATION" help:"Report SCIM tokens this long before they lapse: in connection health, and logged daily."`
	ReconcileAt        string        `default:"02:00" env:"ORGSCIM_RECONCILE_AT" placeholder:"HH:MM|off" help:"Time of day (UTC) of the daily reconciliation pass; off for none."`
	LogLevel           string        `default:"info" enum:"debug,info,warn,error" env:"ORGSCIM_LOG_LEVEL" placeholder:"debug|info|warn|error" help:"The least severe log lines written: info writes one access-log line per request, warn only warnings and errors."`
	MappingFourEyes    string        `default:"all" enum:"all,privileged" env:"ORGSCIM_MAPPING_FOUR_EYES" placeholder:"all|privileged" help:"Which mappings need an approver other than their drafter: all, or only those of privileged roles."`
	SealInterval       time.Duration `default:"250ms" env:"ORGSCIM_SEAL_INTERVAL" placeholder:"DURATION" help:"How often to seal committed audit events into the log and sign a checkpoint; at most 1s."`
	ConsoleIdle        time.Duration `default:"30m" env:"ORGSCIM_CONSOLE_IDLE_TIMEOUT" name:"console-idle-timeout" placeholder:"DURATION" help:"A console session unused this long ends."`
	ConsoleMax         time.Duration `default:"12h" env:"ORGSCIM_CONSOLE_SESSION_MAX" name:"console-session-max" placeholder:"DURATION" help:"A console session ends this long after sign-in, however active."`
	PublicURL          string        `env:"ORGSCIM_PUBLIC_URL" name:"public-url" placeholder:"URL" help:"The server's address as browsers reach it (https://orgscim.example.com): the console's OIDC redirect URI and Secure cookies behind a TLS proxy."`
	DBMaxConns         int           `name:"db-max-conns" default:"0" env:"ORGSCIM_DB_MAX_CONNS" placeholder:"N" help:"The most connections to PostgreSQL this server opens, at least 4; 0 for four per CPU of this machine, 8 to 32. Replicas' pools add up."`
	CheckpointDir      string        `name:"audit-checkpoint-dir" env:"ORGSCIM_AUDIT_CHECKPOINT_DIR" placeholder:"DIR" help:"Publish every signed checkpoint of the audit log as a file of this append-only directory."`
	auditKeyFlag
	dnsResolverFlag
	serviceAccountPolicy
	ssfKeyFlag
	SSFRetention time.Duration `default:"168h" name:"ssf-retention" env:"ORGSCIM_SSF_RETENTION" placeholder:"DURATION" help:"How long a delivered, acknowledged or given-up Shared Signals SET is kept before it is deleted."`
	SSFInterval  time.Duration `default:"1s" name:"ssf-interval" env:"ORGSCIM_SSF_INTERVAL" placeholder:"DURATION" help:"How often to look for due Shared Signals SETs besides when a change that queued some commits (retries, a lost wake-up); 0 pushes none."`
}

func (serveCmd) Help() string {
	return `Runs the HTTP server: SCIM 2.0 under /scim/v2/{connection}/, the admin API under
/api/v1, /healthz (liveness), /readyz (database reachable, migrations applied) and
/metrics (Prometheus). /healthz, /readyz and /metrics need no credentials: expose them to
the orchestrator and the monitoring network only, never publicly. Logs are JSON lines on
stderr, one per request with its request id; they carry no tokens, passwords, bodies or
query strings.

Each SCIM connection may make --rate-limit requests per second, in bursts of up to
--rate-burst; beyond that it is answered 429 with Retry-After. Every request is bounded
by --request-timeout (answered 503 when it runs out). Request bodies over 2 MB are
answered 413 (read and discarded up to 16 MB first, so that clients that send the whole
body before reading get the answer). While the database cannot be reached, requests are
answered 503 with Retry-After. On SIGTERM or SIGINT the server
stops accepting connections, finishes the requests in flight (waiting at most
--request-timeout plus 5 s) and exits.

On PostgreSQL the server opens at most --db-max-conns connections: about twice
PostgreSQL's cores serves best, since more backends than cores spend their CPU on each
other's locks. The server works on as many SCIM requests at once as it has connections;
the others wait their turn, first come first served, within --request-timeout.

Every --analyze-every the server refreshes the query planner's statistics of the tables
that changed by more than a tenth since their last refresh, as autovacuum would: after an
IdP's initial sync of many users, stale statistics make lookups many times slower. A
table never analyzed is analyzed within a second of holding a few hundred rows.

Every day at --reconcile-at (UTC) the server runs a reconciliation pass (see orgscim
reconcile --help); with several replicas one of them leads and the others skip the day.

The server records every authenticated SCIM request for its connection's health (counts,
last push, a redacted log of the last 50 requests; see orgscim connection health), stored
about once a second and when it stops. Once a day it logs the tokens that lapse within
--token-expiry-warning.

Authority follows the relationship: every admin request, access check and SCIM request
evaluates, at that moment, whether the rights it relies on still hold (holder, connection,
every org on the path, the delegation chain, scope); see the README's "Authority follows
the relationship". A mapping is approved by someone other than its drafter;
--mapping-four-eyes privileged relaxes that to mappings of privileged roles.

The web console is served under /console (see the README's "The console"): sessions
end after --console-idle-timeout without use and --console-session-max after sign-in;
--public-url is the address browsers use, for the OIDC redirect URI
(PUBLIC-URL/console/sign-in/callback) and Secure cookies behind a TLS proxy.

The server seals the audit log every --seal-interval: committed events get their place in
the log's Merkle tree and a checkpoint signed with the key in --audit-key (created with
mode 0600 on first start; next to a SQLite database by default; a PostgreSQL deployment
must name one). With several replicas one of them seals (a PostgreSQL advisory lock).
Each checkpoint is also written to --audit-checkpoint-dir, when given, and POSTed to the
webhook subscriptions created with --actions audit.checkpoint.

Every --webhook-interval the server sends the webhook deliveries that are due (see
orgscim webhook create): signed, retried with backoff, at least once. Replicas on one
PostgreSQL database share the work without sending a delivery twice at once.

The Shared Signals transmitter (GET /.well-known/ssf-configuration; see orgscim ssf
receiver add) signs SETs with the key in --ssf-key (created with mode 0600 on first
start, next to a SQLite database by default; without one on PostgreSQL it is not served)
and pushes them, in order per stream, as soon as the change that queued them commits
(on PostgreSQL every replica is woken, by NOTIFY), and every --ssf-interval for retries;
SETs done are deleted after --ssf-retention.
Its issuer is --public-url, else http://ADDR.

Example:

    orgscim serve --addr 127.0.0.1:8080
    ORGSCIM_DATABASE_URL=postgres://orgscim@db:5432/orgscim orgscim serve --addr 0.0.0.0:8080`
}

func (c *serveCmd) Run(env *cliEnv) error {
	ctx, stdout, stderr := env.ctx, env.stdout, env.stderr
	daily, dailyOn, err := parseTimeOfDay(c.ReconcileAt)
	if err != nil {
		return usagef("--reconcile-at: %v", err)
	}
	if c.TokenExpiryWarning <= 0 {
		return usagef("--token-expiry-warning must be positive")
	}
	if c.RateLimit < 0 || c.RateBurst < 0 || c.RequestTimeout <= 0 || c.AnalyzeEvery < 0 || c.WebhookInterval < 0 {
		return usagef("--rate-limit, --rate-burst, --analyze-every and --webhook-interval must not be negative, --request-timeout must be positive")
	}
	timeout, analyzeEvery, webhookInterval, tokenWarning := c.RequestTimeout, c.AnalyzeEvery, c.WebhookInterval, c.TokenExpiryWarning
	if c.SealInterval <= 0 || c.SealInterval > time.Second {
		return usagef("--seal-interval must be positive and at most 1s")
	}
	sealInterval := c.SealInterval
	auditKey, err := loadAuditKey(c.AuditKey, env.database, true)
	if err != nil {
		return err
	}
	limits := scim.Limits{RateLimit: c.RateLimit, RateBurst: c.RateBurst}
	if c.RateLimit == 0 {
		limits.RateLimit = -1 // scim.Limits: negative is no limit, zero the default
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return usagef("--log-level: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Listen before opening the database: a taken port is the commonest mistake, and
	// says how to fix it before anything else happens.
	ln, err := listen(c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if c.DBMaxConns < 0 || c.DBMaxConns > 0 && c.DBMaxConns < 4 {
		// The sealer's leader and the Shared Signals listener each keep a connection of
		// the pool for as long as they run, the reconciler's leader one during its pass.
		return usagef("--db-max-conns must be 0 (four per CPU) or at least 4: the sealer, the Shared Signals listener and the reconciler each keep one")
	}
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	if c.DBMaxConns > 0 {
		if err := db.SetMaxConns(c.DBMaxConns); err != nil {
			return err
		}
	}
	health := &connhealth.Recorder{Store: db.Health(), Logger: logger}
	// Deferred after db.Close, so it runs before: what was recorded up to the last
	// request is stored.
	defer flushHealth(health, logger)
	fourEyes, err := orgs.ParseFourEyes(c.MappingFourEyes)
	if err != nil {
		return usagef("--mapping-four-eyes: %v", err)
	}
	if c.ConsoleIdle <= 0 || c.ConsoleMax <= 0 {
		return usagef("--console-idle-timeout and --console-session-max must be positive")
	}
	cfg := httpConfig{RequestTimeout: timeout, Limits: limits, Health: health, TokenExpiryWarning: tokenWarning, FourEyes: fourEyes,
		Console: sessions.Timeouts{Idle: c.ConsoleIdle, Absolute: c.ConsoleMax}, PublicURL: strings.TrimRight(c.PublicURL, "/"),
		DomainProofs: domainProofs(c.DNSResolver), ServiceAccounts: c.serviceAccountPolicy}
	if err := c.serviceAccountPolicy.apply(&orgs.ServiceAccounts{}); err != nil {
		return err
	}
	if c.SSFInterval < 0 {
		return usagef("--ssf-interval must not be negative")
	}
	if c.SSFRetention <= 0 {
		return usagef("--ssf-retention must be positive, e.g. 168h")
	}
	if path := ssfKeyPath(c.SSFKey, env.database); path != "" {
		keys, err := ssf.LoadKeyring(path, true, "")
		if err != nil {
			return err
		}
		cfg.SSF = ssfConfig{Keys: keys, Issuer: cfg.PublicURL}
		if cfg.SSF.Issuer == "" {
			cfg.SSF.Issuer = "http://" + ln.Addr().String()
		}
	} else {
		logger.Info("no Shared Signals transmitter: name its SET signing key with --ssf-key or ORGSCIM_SSF_KEY_FILE")
	}
	e := newHandler(db, logger, cfg)
	if cfg.SSF.Keys != nil && c.SSFInterval > 0 {
		pctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		p := &ssf.Pusher{Outbox: db.SSF(), Keys: cfg.SSF.Keys, Issuer: cfg.SSF.Issuer, Logger: logger,
			Wake: db.SSFWakeups(pctx, logger)}
		go func() { defer close(stopped); p.Run(pctx, c.SSFInterval) }()
		purged := make(chan struct{})
		go func() { defer close(purged); runSSFPurge(pctx, db, c.SSFRetention, logger) }()
		defer func() { <-purged }()
		defer func() { stop(); <-stopped }()
	}
	logger.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("database", db.Engine()))
	if analyzeEvery > 0 {
		go keepStatistics(ctx, db, analyzeEvery, logger)
	}
	if webhookInterval > 0 {
		// Stopped and waited for before the database closes, so that a delivery that
		// was acknowledged is recorded as such.
		dctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		d := &webhooks.Deliverer{Outbox: db.Webhooks(), Logger: logger}
		go func() { defer close(stopped); d.Run(dctx, webhookInterval) }()
		defer func() { stop(); <-stopped }()
	}
	{
		// Stopped before the database closes; what it has not sealed, the next start does.
		var sinks []audit.Sink
		if c.CheckpointDir != "" {
			sinks = append(sinks, audit.DirSink{Dir: c.CheckpointDir})
		}
		sealer := newSealer(db, auditKey, sinks...)
		sealer.Logger = logger
		sctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); sealer.Run(sctx, sealInterval) }()
		defer func() { stop(); <-stopped }()
		logger.Info("audit log", slog.String("public_key", auditKey.PublicKey))
	}
	if dailyOn {
		rctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		slug := func(ctx context.Context, id string) string {
			if c, err := db.Access().ConnectionByID(ctx, id); err == nil {
				return c.Slug
			}
			return id
		}
		go func() {
			defer close(stopped)
			rec := newReconciler(db, nil)
			rec.Domains.(*domains.Service).Proofs = cfg.DomainProofs
			_ = cfg.ServiceAccounts.apply(rec.ServiceAccounts.(*orgs.ServiceAccounts))
			reconcileDaily(rctx, rec, daily, time.Now, logger, slug)
		}()
		defer func() { stop(); <-stopped }()
	}
	{
		tctx, stop := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			warnExpiringTokensDaily(tctx, db.Health(), tokenWarning, time.Now, logger)
		}()
		defer func() { stop(); <-stopped }()
	}
	fmt.Fprintf(stdout, "orgscim listening on http://%s (%s)\n", ln.Addr(), db.Engine())
	return runServer(ctx, ln, e, logger, timeout)
}

// listen listens on addr; a taken or unusable address says which flag changes it.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("address %s is in use: pass --addr HOST:PORT or set ORGSCIM_ADDR", addr)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("address %s: permission denied (ports below 1024 need privileges): pass --addr HOST:PORT or set ORGSCIM_ADDR", addr)
	case err != nil:
		return nil, fmt.Errorf("cannot listen on %s: %w; pass --addr HOST:PORT or set ORGSCIM_ADDR", addr, err)
	}
	return ln, nil
}

// parseTimeOfDay reads "HH:MM" as an offset into a UTC day, or "off".
func parseTimeOfDay(s string) (time.Duration, bool, error) {
	if s == "off" {
		return 0, false, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false, fmt.Errorf("want HH:MM (UTC) or off, got %q", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, true, nil
}

// nextDaily is the first time at offset into a UTC day that is after now.
func nextDaily(now time.Time, offset time.Duration) time.Time {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if next := day.Add(offset); next.After(now) {
		return next
	}
	return day.AddDate(0, 0, 1).Add(offset)
}

// reconcileDaily runs a pass every day at offset until ctx is done. A replica that
// finds another leading skips the day; a failed pass is logged and its run record says
// how far it got. A held plan is logged with its connection's slug (slug names it).
func reconcileDaily(ctx context.Context, rec *reconcile.Reconciler, offset time.Duration, now func() time.Time, logger *slog.Logger,
	slug func(context.Context, string) string) {
	for {
		timer := time.NewTimer(nextDaily(now(), offset).Sub(now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		run, err := rec.Once(ctx, reconcile.Options{})
		switch {
		case orgscim.ErrorCode(err) == orgscim.Conflict && run == nil:
			logger.Info("reconciler: another replica leads today's pass")
		case err != nil:
			logger.Error("reconciler pass failed", slog.String("error", err.Error()))
		default:
			logger.Info("reconciler pass done", slog.String("run", run.ID))
		}
		if run != nil {
			for _, h := range run.Report.Held {
				// Someone must look: the guardrail held a mass revocation.
				logger.Warn("reconciler: plan held by the guardrail; approve with orgscim reconcile approve",
					slog.String("run", run.ID), slog.String("connection", slug(ctx, h.ConnectionID)), slog.String("connection_id", h.ConnectionID),
					slog.Int("grants", h.Plan.Revocations()), slog.Int("members", h.Plan.Deactivate))
			}
		}
	}
}

// runServer serves h on ln until ctx is done (SIGTERM or SIGINT in production, a
// cancel in tests), then shuts down gracefully: it stops accepting, closes idle
// connections and waits for the requests in flight to be answered, at most
// requestTimeout plus 5 s. A write that was acknowledged has committed before its
// response, so nothing acknowledged is lost. It closes ln.
func runServer(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger, requestTimeout time.Duration) error {
	if requestTimeout <= 0 {
		requestTimeout = defaultRequestTimeout
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      requestTimeout + 15*time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// No BaseContext: the requests in flight must not be cancelled by ctx.
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), requestTimeout+5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// keepStatistics refreshes the planner's statistics every interval until ctx is done,
// so that a bulk sync does not leave the planner choosing plans for empty tables (see
// sqlstore.DB.RefreshStatistics). A failure is logged and tried again next time.
func keepStatistics(ctx context.Context, db *sqlstore.DB, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	// A table's first ANALYZE cannot wait for the interval: see sqlstore.DB.AnalyzeFirst.
	first := time.NewTicker(min(every, time.Second))
	defer first.Stop()
	for {
		refresh := db.RefreshStatistics
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-first.C:
			refresh = db.AnalyzeFirst
		}
		tables, err := refresh(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("refreshing planner statistics", slog.String("error", err.Error()))
		case len(tables) > 0:
			logger.Info("planner statistics refreshed", slog.Any("tables", tables))
		}
	}
}

// accessDecider answers the AuthZEN PDP's questions with the admin API's access check:
// the same scope rules for the caller and the same decision and explanation.
type accessDecider struct{ admin *adminapi.Server }

func (a accessDecider) Decide(ctx context.Context, p orgs.Principal, conn, user, perm, org string) (bool, any, error) {
	d, err := a.admin.Check(ctx, p, conn, user, perm, org)
	if err != nil {
		return false, nil, err
	}
	return d.Allowed, d, nil
}

// DecideMany answers a batch of the PDP's questions with the admin API's batched access
// check: the same scope rules and decisions as Decide, one check for the whole batch.
func (a accessDecider) DecideMany(ctx context.Context, p orgs.Principal, qs []authzen.Question) ([]authzen.Decided, []error, error) {
	asked := make([]adminapi.CheckQuestion, len(qs))
	for i, q := range qs {
		asked[i] = adminapi.CheckQuestion{Connection: q.Connection, User: q.User, Permission: q.Permission, Org: q.Org}
	}
	ds, errs, err := a.admin.CheckMany(ctx, p, asked)
	if err != nil {
		return nil, nil, err
	}
	return decidedAll(ds, errs, func(d adminapi.Decision) bool { return d.Allowed }), errs, nil
}

// decidedAll turns a batch of the admin API's answers into the PDP's, each with the
// answer itself as its reason; a question that failed (errs[i]) stays empty.
func decidedAll[D any](ds []D, errs []error, allowed func(D) bool) []authzen.Decided {
	out := make([]authzen.Decided, len(ds))
	for i, d := range ds {
		if errs[i] == nil {
			out[i] = authzen.Decided{Allowed: allowed(d), Why: d}
		}
	}
	return out
}

// DecideServiceAccount answers the PDP's questions about a service account with the
// admin API's service-account check.
func (a accessDecider) DecideServiceAccount(ctx context.Context, p orgs.Principal, id, perm, org string) (bool, any, error) {
	d, err := a.admin.CheckServiceAccount(ctx, p, id, perm, org)
	if err != nil {
		return false, nil, err
	}
	return d.Allowed, d, nil
}

// DecideServiceAccounts answers a batch of the PDP's questions about service accounts
// with the admin API's batched service-account check: the same scope rules and
// decisions as DecideServiceAccount, one check for the whole batch.
func (a accessDecider) DecideServiceAccounts(ctx context.Context, p orgs.Principal, qs []authzen.ServiceAccountQuestion) ([]authzen.Decided, []error, error) {
	asked := make([]adminapi.ServiceAccountQuestion, len(qs))
	for i, q := range qs {
		asked[i] = adminapi.ServiceAccountQuestion{ID: q.ID, Permission: q.Permission, Org: q.Org}
	}
	ds, errs, err := a.admin.CheckServiceAccounts(ctx, p, asked)
	if err != nil {
		return nil, nil, err
	}
	return decidedAll(ds, errs, func(d adminapi.ServiceAccountDecision) bool { return d.Allowed }), errs, nil
}

// webhookSubscriptions serves the admin API's /webhooks with the webhooks package's
// subscriptions.
type webhookSubscriptions struct{ s *webhooks.Subscriptions }

func webhookJSON(s *webhooks.Subscription) adminapi.Webhook {
	return adminapi.Webhook{ID: s.ID, Connection: s.ConnectionSlug, URL: s.URL, Actions: s.Actions, State: s.State,
		Format: s.Format, Created: s.Created, Secret: s.Secret, Pending: s.Pending, Delivered: s.Delivered, Dead: s.Dead}
}

func (w webhookSubscriptions) CreateWebhook(ctx context.Context, connID, url string, actions []string, format string) (adminapi.Webhook, error) {
	filter, err := webhooks.ParseActions(strings.Join(actions, ","))
	if err != nil {
		return adminapi.Webhook{}, err
	}
	s, err := w.s.Create(ctx, connID, url, filter, format)
	if err != nil {
		return adminapi.Webhook{}, err
	}
	return webhookJSON(s), nil
}

func (w webhookSubscriptions) Webhooks(ctx context.Context) ([]adminapi.Webhook, error) {
	list, err := w.s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminapi.Webhook, len(list))
	for i := range list {
		out[i] = webhookJSON(&list[i])
	}
	return out, nil
}

func (w webhookSubscriptions) SetWebhookFormat(ctx context.Context, id, format string) (adminapi.Webhook, error) {
	if _, err := w.s.SetFormat(ctx, id, format); err != nil {
		return adminapi.Webhook{}, err
	}
	// Read back as listed: with the connection's slug and the deliveries' counts.
	list, err := w.Webhooks(ctx)
	if err != nil {
		return adminapi.Webhook{}, err
	}
	for _, h := range list {
		if h.ID == id {
			return h, nil
		}
	}
	return adminapi.Webhook{}, orgscim.Errorf(orgscim.NotFound, "no webhook subscription %q", id)
}
