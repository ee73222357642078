package replay

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/users"
)

// Pool kinds, in the order the report shows them.
const (
	KindPgxpool   = "pgxpool"
	KindSQL       = "database/sql"
	KindPoolguard = "poolguard"
)

// Kinds are every pool kind the replay runs.
var Kinds = []string{KindPgxpool, KindSQL, KindPoolguard}

// target is one pool under the replay's workload.
type target interface {
	// api serves one API request: acquire, query user id, release. It
	// calls acquired once it holds a connection.
	api(ctx context.Context, id int64, acquired func()) error
	// sync is the outage's buggy sync of one user: on a validation error
	// it returns without releasing the connection.
	sync(ctx context.Context, id int64) error
	// usage returns the connections in use and the pool's maximum.
	usage() (inUse, max int)
	// close closes the pool and reports whether that finished within
	// closeWait.
	close() bool
}

// closeWait bounds how long the replay waits for a pool's Close.
const closeWait = 5 * time.Second

// closeWithin runs close and reports whether it returned within closeWait.
// If not, it is left running: a pool whose Close never returns leaves the
// replay no other choice.
func closeWithin(close func()) bool {
	done := make(chan struct{})
	go func() {
		close()
		done <- struct{}{}
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// pgxpoolTarget runs the workload on a pgxpool.Pool.
type pgxpoolTarget struct{ pool *pgxpool.Pool }

func newPgxpool(ctx context.Context, dsn string, size int) (target, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(size)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	return &pgxpoolTarget{pool}, err
}

func (t *pgxpoolTarget) api(ctx context.Context, id int64, acquired func()) error {
	conn, err := t.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	acquired()
	_, err = users.ScanUser(conn.QueryRow(ctx, users.SelectUser, id))
	return err
}

func (t *pgxpoolTarget) sync(ctx context.Context, id int64) error {
	conn, err := t.pool.Acquire(ctx) //leakcheck:ignore the outage's bug, replayed on purpose
	if err != nil {
		return err
	}
	u, err := users.ScanUser(conn.QueryRow(ctx, users.SelectUser, id))
	if err != nil {
		conn.Release()
		return err
	}
	if err := users.Validate(u); err != nil {
		return err // the connection is never released
	}
	_, err = conn.Exec(ctx, users.MarkSynced, id)
	conn.Release()
	return err
}

func (t *pgxpoolTarget) usage() (int, int) {
	st := t.pool.Stat()
	return int(st.AcquiredConns()), int(st.MaxConns())
}

// close waits for every connection to be released, so with a leaked one
// it never returns: pgxpool can never get it back.
func (t *pgxpoolTarget) close() bool { return closeWithin(t.pool.Close) }

// sqlTarget runs the workload on a database/sql DB with pgx's driver.
type sqlTarget struct {
	db   *sql.DB
	size int
}

func newSQL(_ context.Context, dsn string, size int) (target, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(size)
	db.SetMaxIdleConns(size)
	return &sqlTarget{db, size}, nil
}

func (t *sqlTarget) api(ctx context.Context, id int64, acquired func()) error {
	conn, err := t.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	acquired()
	_, err = users.ScanUser(conn.QueryRowContext(ctx, users.SelectUser, id))
	return err
}

func (t *sqlTarget) sync(ctx context.Context, id int64) error {
	conn, err := t.db.Conn(ctx) //leakcheck:ignore the outage's bug, replayed on purpose
	if err != nil {
		return err
	}
	u, err := users.ScanUser(conn.QueryRowContext(ctx, users.SelectUser, id))
	if err != nil {
		conn.Close()
		return err
	}
	if err := users.Validate(u); err != nil {
		return err // the connection is never released
	}
	_, err = conn.ExecContext(ctx, users.MarkSynced, id)
	return errors.Join(err, conn.Close())
}

func (t *sqlTarget) usage() (int, int) { return t.db.Stats().InUse, t.size }
func (t *sqlTarget) close() bool {
	return closeWithin(func() { t.db.Close() }) //nolint:errcheck // nothing to do about it here
}

// poolguardTarget runs the workload on the user API's own pool: partitions
// "api" and "sync", and the example's buggy job.
type poolguardTarget struct {
	pool              *poolguard.Pool
	apiPart, syncPart *poolguard.Partition
}

func newPoolguard(ctx context.Context, dsn string, size int, opts Options, onLeak func(poolguard.LeakEvent)) (target, error) {
	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = size
	cfg.OnLeak = onLeak
	cfg.Logger = slog.New(slog.DiscardHandler) // events arrive through OnLeak
	cfg.CloseTimeout = opts.MaxHold
	if err := users.Configure(cfg, opts.MaxHold); err != nil {
		return nil, err
	}
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &poolguardTarget{pool, pool.Partition(users.PartitionAPI), pool.Partition(users.PartitionSync)}, nil
}

func (t *poolguardTarget) api(ctx context.Context, id int64, acquired func()) error {
	return t.apiPart.With(ctx, func(c *poolguard.Conn) error {
		acquired()
		_, err := users.ScanUser(c.QueryRow(ctx, users.SelectUser, id))
		return err
	})
}

var discard = slog.New(slog.DiscardHandler)

func (t *poolguardTarget) sync(ctx context.Context, id int64) error {
	return users.SyncUserBuggy(ctx, t.syncPart, discard, id)
}

func (t *poolguardTarget) usage() (int, int) {
	st := t.pool.Stats()
	return st.Total().InUse, st.MaxConns
}

func (t *poolguardTarget) close() bool { return closeWithin(t.pool.Close) }
