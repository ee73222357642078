package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/poolguard/poolguard"
)

// SyncFunc syncs one user: SyncUser or SyncUserBuggy.
type SyncFunc func(ctx context.Context, db *poolguard.Partition, log *slog.Logger, id int64) error

// ParseSyncMode returns the sync function named by mode: "fixed" (SyncUser)
// or "buggy" (SyncUserBuggy).
func ParseSyncMode(mode string) (SyncFunc, error) {
	switch mode {
	case "fixed":
		return SyncUser, nil
	case "buggy":
		return SyncUserBuggy, nil
	}
	return nil, fmt.Errorf("users: unknown sync mode %q: use fixed or buggy", mode)
}

// SyncUserBuggy is the outage's sync job, ported to Go line for line: on a
// validation error it logs and returns without releasing the connection.
// It is kept to show what poolguard does with such a leak; do not copy it.
func SyncUserBuggy(ctx context.Context, db *poolguard.Partition, log *slog.Logger, id int64) error {
	conn, err := db.Acquire(ctx) //leakcheck:ignore the buggy acquire, kept on purpose: leaked on a validation error
	if err != nil {
		return err
	}
	q := New(conn)
	u, err := q.GetUser(ctx, id)
	if err != nil {
		conn.Release()
		return err
	}
	if err := Validate(u); err != nil {
		log.Error("sync: validation failed", "user", id, "error", err)
		return err // the connection is never released
	}
	if err := q.MarkUserSynced(ctx, id); err != nil {
		conn.Release()
		return err
	}
	conn.Release()
	return nil
}

// SyncUser is the fix: With releases the connection on every path.
func SyncUser(ctx context.Context, db *poolguard.Partition, log *slog.Logger, id int64) error {
	return db.With(ctx, func(conn *poolguard.Conn) error {
		q := New(conn)
		u, err := q.GetUser(ctx, id)
		if err != nil {
			return err
		}
		if err := Validate(u); err != nil {
			log.Error("sync: validation failed", "user", id, "error", err)
			return err
		}
		return q.MarkUserSynced(ctx, id)
	})
}

// Job is the background job that walks the users and syncs each one.
type Job struct {
	DB     *poolguard.Partition // the "sync" partition
	Sync   SyncFunc             // SyncUser, or SyncUserBuggy to replay the outage
	Logger *slog.Logger         // nil means slog.Default()
	// Pause is the time between two users, so a pass spreads its load.
	Pause time.Duration
	// UserTimeout bounds the sync of one user, waiting for a connection
	// included. Zero means 10 seconds.
	UserTimeout time.Duration
}

// PassResult counts the outcome of one pass over the users.
type PassResult struct {
	Synced, Invalid, Failed int
}

// Pass syncs every user once, in ID order. A user that fails validation or
// cannot be synced is counted and skipped; only ctx ending, or failing to
// list the users, stops the pass early.
func (j *Job) Pass(ctx context.Context) (PassResult, error) {
	var res PassResult
	log := j.logger()
	timeout := j.UserTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	var after int64
	for {
		ids, err := j.nextIDs(ctx, after)
		if err != nil || len(ids) == 0 {
			return res, err
		}
		for _, id := range ids {
			uctx, cancel := context.WithTimeout(ctx, timeout)
			err := j.Sync(uctx, j.DB, log, id)
			cancel()
			switch {
			case err == nil:
				res.Synced++
			case errors.Is(err, ErrValidation):
				res.Invalid++
			case ctx.Err() != nil:
				return res, ctx.Err()
			default:
				res.Failed++
				log.Warn("sync: user not synced", "user", id, "error", err)
			}
			if err := sleep(ctx, j.Pause); err != nil {
				return res, err
			}
		}
		after = ids[len(ids)-1]
	}
}

func (j *Job) logger() *slog.Logger {
	if j.Logger == nil {
		return slog.Default()
	}
	return j.Logger
}

// nextIDs returns the next page of user IDs after the given one.
func (j *Job) nextIDs(ctx context.Context, after int64) ([]int64, error) {
	ids, err := New(j.DB).ListUserIDs(ctx, after)
	if err != nil {
		return nil, fmt.Errorf("users: sync: listing users: %w", err)
	}
	return ids, nil
}

// Run makes a pass every interval until ctx ends, and returns nil then.
// A pass that fails is logged and retried at the next interval.
func (j *Job) Run(ctx context.Context, interval time.Duration) error {
	for {
		res, err := j.Pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		log := j.logger()
		if err != nil {
			log.Error("sync: pass failed", "error", err)
		} else {
			log.Info("sync: pass done", "synced", res.Synced, "invalid", res.Invalid, "failed", res.Failed)
		}
		if sleep(ctx, interval) != nil {
			return nil
		}
	}
}

// sleep waits for d or until ctx ends, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
