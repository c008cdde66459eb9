package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/orgscim/orgscim"
)

// Leadership is the sealer's exclusive right to extend the log: a PostgreSQL advisory
// lock held on a connection of its own (the reconciler's mechanism), the process on
// SQLite. Check fails once it is lost.
type Leadership interface {
	Check(ctx context.Context) error
	Release()
}

// Sealed is what one sealing transaction did.
type Sealed struct {
	Events     int
	Checkpoint Checkpoint
	Signed     []byte
}

// SealStore is the log's storage as the sealer uses it.
type SealStore interface {
	// LeadSealer makes the caller the only sealer, or fails with orgscim.Conflict.
	LeadSealer(ctx context.Context) (Leadership, error)
	// LegacyToMigrate reports whether events written before the log are still to be
	// sealed and none has been yet: the moment to check their chains once more.
	LegacyToMigrate(ctx context.Context) (bool, error)
	// Seal gives up to limit committed events not in the log their positions, in
	// commit order, extends the tree and stores the checkpoint sign makes of it, in one
	// transaction; with nothing to seal it returns nil.
	// sign returns the signed checkpoint and the public key that checks it.
	Seal(ctx context.Context, limit int, sign func(Checkpoint) (signed []byte, publicKey string, err error)) (*Sealed, error)
}

// Sink receives each checkpoint the sealer publishes, outside the database.
type Sink interface {
	Publish(ctx context.Context, c Checkpoint, signed []byte) error
}

// Recorder appends audit events (sqlstore.AuditLog does).
type Recorder interface {
	Record(ctx context.Context, e Event) error
}

// Sealer seals committed events into the log and signs checkpoints. One runs per
// deployment (Run takes the leadership); Once is one round, for tests and the CLI.
type Sealer struct {
	Store  SealStore
	Key    *Key
	Audit  Recorder // records the migration of the old chains; may be nil
	Chains ChainReader
	Sinks  []Sink
	Logger *slog.Logger
	Now    func() time.Time
	// Batch is how many events one sealing transaction takes (default 5,000).
	Batch int
}

func (s *Sealer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sealer) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Once takes the leadership, seals every event committed so far and publishes the last
// checkpoint to the sinks. It returns that checkpoint, or nil when nothing was sealed.
func (s *Sealer) Once(ctx context.Context) (*Sealed, error) {
	l, err := s.Store.LeadSealer(ctx)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	return s.round(ctx, l)
}

func (s *Sealer) round(ctx context.Context, l Leadership) (*Sealed, error) {
	if s.Key == nil {
		return nil, errors.New("audit: the sealer has no signing key")
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	batch := s.Batch
	if batch <= 0 {
		batch = 5000
	}
	var last *Sealed
	for {
		if err := l.Check(ctx); err != nil {
			return last, err
		}
		sealed, err := s.Store.Seal(ctx, batch, func(c Checkpoint) ([]byte, string, error) {
			signed, err := c.Sign(s.Key.Signer)
			return signed, s.Key.PublicKey, err
		})
		if err != nil {
			return last, err
		}
		if sealed == nil {
			break
		}
		last = sealed
		if sealed.Events < batch {
			break
		}
	}
	if last != nil {
		for _, sink := range s.Sinks {
			if err := sink.Publish(ctx, last.Checkpoint, last.Signed); err != nil {
				// The checkpoint is stored; the next one reaches the sink again.
				s.logger().Warn("audit: publishing a checkpoint failed", slog.Int64("size", last.Checkpoint.Size),
					slog.String("error", err.Error()))
			}
		}
	}
	return last, nil
}

// migrate checks the per-connection chains of the events written before the log once
// more, just before they are sealed into it, and records the outcome as an event of
// the log: an auditor sees whether the old trail was intact when it moved.
func (s *Sealer) migrate(ctx context.Context) error {
	if s.Chains == nil || s.Audit == nil {
		return nil
	}
	todo, err := s.Store.LegacyToMigrate(ctx)
	if err != nil || !todo {
		return err
	}
	rep, err := VerifyChains(ctx, s.Chains)
	if err != nil {
		return err
	}
	e := New(WithSource(ctx, Source{Actor: "system:audit-sealer"}), s.now(), "audit.log.migrate", "audit_log", "chains")
	e.Diff = Detail(map[string]any{"chains": rep.Chains, "events": rep.Events, "breaks": rep.Breaks, "intact": rep.OK()})
	if !rep.OK() {
		s.logger().Error("audit: the old hash chains are broken; sealing them into the log as they are",
			slog.Int("breaks", len(rep.Breaks)))
	}
	return s.Audit.Record(ctx, e)
}

// Run seals every interval while it leads, until ctx is done. A replica that does not
// lead tries again every few intervals, so that one takes over when the leader stops.
func (s *Sealer) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	for ctx.Err() == nil {
		l, err := s.Store.LeadSealer(ctx)
		if err != nil {
			if ctx.Err() == nil && !isConflict(err) {
				s.logger().Warn("audit: sealer leadership", slog.String("error", err.Error()))
			}
			sleep(ctx, 10*interval)
			continue
		}
		s.lead(ctx, l, interval)
		l.Release()
	}
}

func (s *Sealer) lead(ctx context.Context, l Leadership, interval time.Duration) {
	for ctx.Err() == nil {
		if _, err := s.round(ctx, l); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger().Warn("audit: sealing failed", slog.String("error", err.Error()))
			if l.Check(ctx) != nil {
				return // lost the lead: compete again
			}
		}
		sleep(ctx, interval)
	}
}

func isConflict(err error) bool { return orgscim.ErrorCode(err) == orgscim.Conflict }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// DirSink publishes checkpoints as files of an append-only directory, one per tree
// size, never overwritten: a copy of the log's history outside the database, for
// backups and witnesses to pick up.
type DirSink struct{ Dir string }

// Publish writes the checkpoint as DIR/<size>.checkpoint.
func (d DirSink) Publish(_ context.Context, c Checkpoint, signed []byte) error {
	if err := os.MkdirAll(d.Dir, 0o750); err != nil {
		return err
	}
	path := filepath.Join(d.Dir, strconv.FormatInt(c.Size, 10)+".checkpoint")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		old, rerr := os.ReadFile(path)
		if rerr == nil && noteText(old) == noteText(signed) {
			return nil // published before, by this or another replica
		}
		return fmt.Errorf("checkpoint directory already holds a different checkpoint of size %d: %s", c.Size, path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(signed)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
