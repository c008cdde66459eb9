package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/orgscim/orgscim/sqlstore"
	"github.com/orgscim/orgscim/ssf"
)

// ssfConfig is what the Shared Signals transmitter needs besides the database: its
// signing keys and its issuer, which every SET's iss and the configuration name. Without
// keys the transmitter is not served.
type ssfConfig struct {
	Keys   *ssf.Keyring
	Issuer string // "" : from each request (SETs pushed in the background then carry Pusher's)
	// RateLimit and RateBurst are ssf.Server's (0: its defaults).
	RateLimit float64
	RateBurst int
}

// ssfKeyFlag is --ssf-key, the file of the SET signing key.
type ssfKeyFlag struct {
	SSFKey string `name:"ssf-key" env:"ORGSCIM_SSF_KEY_FILE" placeholder:"FILE" help:"The file of the Shared Signals SET signing key, kept outside the database (default: ssf.key next to the SQLite database; PostgreSQL deployments name one, else no transmitter is served)."`
}

// ssfKeyPath is where the SET signing key lives: the flag, else ssf.key beside a SQLite
// database; "" for PostgreSQL without the flag.
func ssfKeyPath(flagValue, dbURL string) string {
	if flagValue != "" {
		return flagValue
	}
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		return filepath.Join(filepath.Dir(path), "ssf.key")
	}
	return ""
}

func ssfStreams(db *sqlstore.DB) *ssf.Streams {
	return &ssf.Streams{Store: db.SSF(), Tx: db, Audit: db.Audit()}
}

// ssfServer is the transmitter's HTTP side over db.
func ssfServer(db *sqlstore.DB, logger *slog.Logger, cfg ssfConfig, now func() time.Time) *ssf.Server {
	streams := ssfStreams(db)
	streams.Now = now
	return &ssf.Server{Streams: streams, Outbox: db.SSF(), Keys: cfg.Keys, Issuer: cfg.Issuer, Logger: logger, Now: now,
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst}
}

type ssfGroup struct {
	Receiver struct {
		Add    ssfReceiverAddCmd    `cmd:"" help:"Register a receiver; prints its bearer token once."`
		List   ssfReceiverListCmd   `cmd:"" help:"List receivers with their streams."`
		Revoke ssfReceiverRevokeCmd `cmd:"" help:"Revoke a receiver's token and stop its streams."`
	} `cmd:"" help:"Receivers: downstream applications that manage their own event streams."`
	Key struct {
		Rotate ssfKeyRotateCmd `cmd:"" help:"Replace the SET signing key; the old public key stays in the JWKS for --keep."`
	} `cmd:"" help:"The SET signing key."`
}

type ssfReceiverAddCmd struct {
	Name       string `required:"" help:"The receiver's name (the application)."`
	Audience   string `placeholder:"AUD" help:"The aud of its SETs (default: the name)."`
	Connection string `placeholder:"SLUG" help:"Send only this connection's events; empty for every tenant's and the control plane's."`
	actor
	jsonFlag
}

func (ssfReceiverAddCmd) Help() string {
	return `Registers a downstream application as a Shared Signals (SSF 1.0) receiver and prints
its bearer token once (stored only as a hash). With it the application creates its
streams at POST /ssf/stream (see GET /.well-known/ssf-configuration), pushed to its URL
(RFC 8935) or polled (RFC 8936), and verifies each SET against GET /ssf/jwks.

Example:

    orgscim ssf receiver add --name crm --connection acme`
}

func (c *ssfReceiverAddCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	connID := ""
	if c.Connection != "" {
		conn, err := db.Orgs().ConnectionBySlug(ctx, c.Connection)
		if err != nil {
			return cliError(err)
		}
		connID = conn.ID
	}
	r, token, err := ssfStreams(db).AddReceiver(ctx, c.Name, c.Audience, connID)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": r.ID, "name": r.Name, "audience": r.Audience,
			"connection": c.Connection, "state": r.State, "token": token})
	}
	scope := "connection " + c.Connection
	if c.Connection == "" {
		scope = "every tenant"
	}
	fmt.Fprintf(env.stdout, "SSF receiver %s (%s) added for %s, aud %s\nbearer token (shown once): %s\n",
		r.ID, r.Name, scope, r.Audience, token)
	return nil
}

type ssfReceiverListCmd struct {
	jsonFlag
}

func (ssfReceiverListCmd) Help() string {
	return `One line per receiver: id, state, name, aud, connection and its number of streams.

Example:

    orgscim ssf receiver list --json`
}

func (c *ssfReceiverListCmd) Run(env *cliEnv) error {
	db, err := env.open()
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := db.SSF().Receivers(env.ctx)
	if err != nil {
		return err
	}
	if c.JSON {
		if list == nil {
			list = []ssf.Receiver{}
		}
		return printJSON(env.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(env.stdout, "no SSF receivers")
	}
	for _, r := range list {
		conn := r.ConnectionSlug
		if conn == "" {
			conn = "(every tenant)"
		}
		fmt.Fprintf(env.stdout, "%s  %-7s  %s  aud %s  %s  streams %d\n", r.ID, r.State, r.Name, r.Audience, conn, r.Streams)
	}
	return nil
}

type ssfReceiverRevokeCmd struct {
	ID string `name:"id" required:"" help:"The receiver's id."`
	actor
	jsonFlag
}

func (ssfReceiverRevokeCmd) Help() string {
	return `Its token stops working at once; its streams are disabled and what they still held is
dropped. Each push stream is sent one last SET, SSF 1.0's stream-updated (status
disabled, reason "receiver revoked"), so that the receiver learns why its SETs stopped.

Example:

    orgscim ssf receiver revoke --id 9e2b1f0c-5a4d-4c3b-8e7f-6a5b4c3d2e1f`
}

func (c *ssfReceiverRevokeCmd) Run(env *cliEnv) error {
	ctx, db, err := c.act(env)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := ssfStreams(db).RevokeReceiver(ctx, c.ID)
	if err != nil {
		return cliError(err)
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"id": r.ID, "name": r.Name, "state": ssf.ReceiverRevoked})
	}
	fmt.Fprintf(env.stdout, "SSF receiver %s (%s) revoked; its streams are disabled\n", r.ID, r.Name)
	return nil
}

type ssfKeyRotateCmd struct {
	ssfKeyFlag
	Alg  string        `default:"" enum:",EdDSA,ES256" placeholder:"EdDSA|ES256" help:"Algorithm of the new key (default: the current key's)."`
	Keep time.Duration `default:"168h" placeholder:"DURATION" help:"How long the old public key stays in the JWKS, so that SETs already sent still verify."`
	jsonFlag
}

func (ssfKeyRotateCmd) Help() string {
	return `Writes a new SET signing key into the key file (atomically, mode 0600); a running
server signs with it from its next SET on. The old public key stays in the JWKS at
/ssf/jwks for --keep, so that receivers still verify the SETs it signed.

Example:

    orgscim ssf key rotate --ssf-key /etc/orgscim/ssf.key --alg ES256`
}

func (c *ssfKeyRotateCmd) Run(env *cliEnv) error {
	if c.Keep <= 0 {
		return usagef("--keep must be positive")
	}
	path := ssfKeyPath(c.SSFKey, env.database)
	if path == "" {
		return errors.New("name the SET signing key file: --ssf-key FILE or ORGSCIM_SSF_KEY_FILE")
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no SET signing key at %s yet: orgscim serve creates it on first start", path)
	}
	kid, err := ssf.RotateKey(path, c.Alg, c.Keep, time.Now())
	if err != nil {
		return err
	}
	if c.JSON {
		return printJSON(env.stdout, map[string]any{"kid": kid, "keep": c.Keep.String()})
	}
	fmt.Fprintf(env.stdout, "SET signing key rotated: new kid %s; the old public key stays in the JWKS for %s\n", kid, c.Keep)
	return nil
}
