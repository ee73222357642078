package stdlib

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/hook"
)

// ErrUnsupportedIsolation is returned by BeginTx for an isolation level
// PostgreSQL does not have (sql.LevelWriteCommitted, sql.LevelLinearizable).
var ErrUnsupportedIsolation = errors.New("poolguard/stdlib: isolation level not supported by PostgreSQL")

// errNoPartition is what Connect returns for a nil pool or partition, in
// place of a nil pointer dereference. It matches poolguard.ErrNoPartition.
var errNoPartition = fmt.Errorf("poolguard/stdlib: nil pool or partition (%w)", poolguard.ErrNoPartition)

// OptionOpenDB configures the connector of OpenDB and OpenDBFromPool.
type OptionOpenDB func(*connector)

// ShouldPingParams are passed to the function of OptionShouldPing.
type ShouldPingParams struct {
	// Conn is the lease database/sql is about to reuse.
	Conn *poolguard.Conn
	// IdleDuration is how long database/sql has held the connection since
	// its last use.
	IdleDuration time.Duration
}

// OptionShouldPing decides whether ResetSession pings a connection that
// database/sql is about to reuse. Without it, the connection is pinged when
// it was unused for more than a second. database/sql reuses a connection
// only when it hands it from one of its own callers to another, which it
// does only if SetMaxOpenConns was set; the pool itself pings connections
// idle longer than its PingAfterIdle before it leases them.
func OptionShouldPing(f func(context.Context, ShouldPingParams) bool) OptionOpenDB {
	return func(c *connector) { c.shouldPing = f }
}

// OptionResetSession sets a function that runs before database/sql reuses
// a connection (see OptionShouldPing for when it does). An error matching
// driver.ErrBadConn has database/sql discard the connection, which releases
// its lease.
func OptionResetSession(f func(context.Context, *poolguard.Conn) error) OptionOpenDB {
	return func(c *connector) { c.resetSession = f }
}

// OpenDBFromPool returns a *sql.DB whose connections are leases of the
// pool's first partition, as Pool.Acquire's are. See OpenDB.
func OpenDBFromPool(pool *poolguard.Pool, opts ...OptionOpenDB) *sql.DB {
	return open(GetPoolConnector(pool, opts...))
}

// OpenDB returns a *sql.DB whose connections are leases of part: each
// connection database/sql opens is acquired from the partition, under its
// Max and the pool's MaxConns, and released when database/sql closes it.
// It sets the DB's maximum idle connections to zero, so that database/sql
// keeps no connection of its own between calls: a call acquires, and gives
// the connection back when it, its rows, its transaction or its sql.Conn
// end. Leave SetMaxIdleConns at zero; SetMaxOpenConns is redundant with the
// partition's Max, and is better left unset, since database/sql then queues
// its callers itself, in random order, ahead of the partition's FIFO queue.
//
// Closing the DB does not close the pool.
func OpenDB(part *poolguard.Partition, opts ...OptionOpenDB) *sql.DB {
	return open(GetConnector(part, opts...))
}

func open(c driver.Connector) *sql.DB {
	db := sql.OpenDB(c)
	db.SetMaxIdleConns(0)
	return db
}

// GetPoolConnector returns a driver.Connector that acquires from the pool's
// first partition. See GetConnector.
func GetPoolConnector(pool *poolguard.Pool, opts ...OptionOpenDB) driver.Connector {
	var part *poolguard.Partition
	if pool != nil {
		part = pool.Partitions()[0]
	}
	return GetConnector(part, opts...)
}

// GetConnector returns a driver.Connector whose Connect acquires a lease of
// part, for sql.OpenDB. A DB opened on it must be given
// SetMaxIdleConns(0), as OpenDB does: an idle connection of database/sql is
// a lease held for nothing, which the pool would report as a suspected leak
// and revoke at MaxHold.
func GetConnector(part *poolguard.Partition, opts ...OptionOpenDB) driver.Connector {
	c := &connector{part: part}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

type connector struct {
	part         *poolguard.Partition
	shouldPing   func(context.Context, ShouldPingParams) bool
	resetSession func(context.Context, *poolguard.Conn) error
}

// Connect acquires a lease. It records the frames past database/sql's own,
// so that the lease's call site is the code that called database/sql.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.part == nil {
		return nil, errNoPartition
	}
	v, err := hook.AcquireFor(ctx, c.part)
	if err != nil {
		return nil, err
	}
	lease, ok := v.(*poolguard.Conn)
	if !ok {
		return nil, fmt.Errorf("poolguard/stdlib: acquire returned %T, not a *poolguard.Conn", v)
	}
	return &Conn{lease: lease, connector: c, returned: time.Now()}, nil
}

func (c *connector) Driver() driver.Driver { return drv{} }

// drv is the connector's driver. It is not registered with sql.Register: a
// connection string cannot name a pool.
type drv struct{}

func (drv) Open(string) (driver.Conn, error) {
	return nil, errors.New("poolguard/stdlib: open a *sql.DB with OpenDB or OpenDBFromPool, not by name")
}

// The interfaces database/sql looks for, checked at compile time.
var (
	_ driver.Connector          = (*connector)(nil)
	_ driver.Conn               = (*Conn)(nil)
	_ driver.ConnBeginTx        = (*Conn)(nil)
	_ driver.ConnPrepareContext = (*Conn)(nil)
	_ driver.ExecerContext      = (*Conn)(nil)
	_ driver.QueryerContext     = (*Conn)(nil)
	_ driver.Pinger             = (*Conn)(nil)
	_ driver.SessionResetter    = (*Conn)(nil)
	_ driver.Validator          = (*Conn)(nil)
	_ driver.NamedValueChecker  = (*Conn)(nil)
	_ driver.StmtExecContext    = (*stmt)(nil)
	_ driver.StmtQueryContext   = (*stmt)(nil)

	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
)

// Conn is the database/sql driver connection: one lease of the partition,
// through which every call goes, so that each is checked against the lease.
// Reach it with sql.Conn.Raw for what database/sql does not offer:
//
//	err := sqlConn.Raw(func(dc any) error {
//		lease := dc.(*stdlib.Conn).Conn()
//		_, err := lease.CopyFrom(ctx, table, columns, src)
//		return err
//	})
type Conn struct {
	lease     *poolguard.Conn
	connector *connector
	returned  time.Time // when database/sql last finished with it

	// stmts counts the database/sql statements using each prepared
	// statement, by its text: the statement is prepared under its text, so
	// preparing the same text twice yields the same server statement, which
	// may be deallocated only when the last of them closes.
	stmts map[string]int
}

// Conn returns the lease. It must not be used after the database/sql call
// or sql.Conn.Raw callback that reached it returns.
func (c *Conn) Conn() *poolguard.Conn { return c.lease }

// Close releases the lease. database/sql calls it when it is done with the
// connection; with no idle connections kept, that is after each call.
func (c *Conn) Close() error {
	c.lease.Release()
	return nil
}

// Prepare prepares query. See PrepareContext.
func (c *Conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext prepares query on the server, named by its text, so that
// Exec and Query with the same text run the prepared statement, as pgx
// does for its own.
func (c *Conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var sd *pgconn.StatementDescription
	err := c.lease.Raw(func(pc *pgx.Conn) error {
		var err error
		sd, err = pc.Prepare(ctx, query, query)
		return err
	})
	if err != nil {
		return nil, connErr(err)
	}
	if c.stmts == nil {
		c.stmts = make(map[string]int)
	}
	c.stmts[query]++
	return &stmt{conn: c, sd: sd}, nil
}

// Begin starts a transaction. See BeginTx.
func (c *Conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx starts a transaction with the isolation level and access mode
// of opts. sql.LevelSnapshot is PostgreSQL's repeatable read, which is
// snapshot isolation; levels PostgreSQL does not have are an error matching
// ErrUnsupportedIsolation.
func (c *Conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var o pgx.TxOptions
	switch level := sql.IsolationLevel(opts.Isolation); level {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		o.IsoLevel = pgx.ReadUncommitted
	case sql.LevelReadCommitted:
		o.IsoLevel = pgx.ReadCommitted
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		o.IsoLevel = pgx.RepeatableRead
	case sql.LevelSerializable:
		o.IsoLevel = pgx.Serializable
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedIsolation, level)
	}
	if opts.ReadOnly {
		o.AccessMode = pgx.ReadOnly
	}
	t, err := c.lease.BeginTx(ctx, o)
	if err != nil {
		return nil, connErr(err)
	}
	return &tx{ctx: ctx, tx: t}, nil
}

// ExecContext runs query with args.
func (c *Conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	tag, err := c.lease.Exec(ctx, query, values(nil, args)...)
	if err != nil {
		return nil, connErr(err)
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

// QueryContext runs query with args. It reads the first row before it
// returns, so that an error the server reports for the statement is
// returned here, as database/sql callers expect, rather than from the rows.
// The lease is busy until the rows are closed or read to the end.
func (c *Conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.lease.Query(ctx, query, values([]any{resultFormats}, args)...)
	if err != nil {
		return nil, connErr(err)
	}
	more := r.Next()
	if err := r.Err(); err != nil {
		r.Close()
		return nil, connErr(err)
	}
	return &rows{rows: r, preloaded: true, more: more}, nil
}

// Ping checks that the server answers. A failure marks the connection bad,
// so database/sql discards it and pings on another.
func (c *Conn) Ping(ctx context.Context) error {
	if err := c.lease.Ping(ctx); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return badConn{err}
	}
	return nil
}

// CheckNamedValue accepts every argument, as pgx's own driver does: pgx
// encodes driver.Valuer, sql.Scanner-compatible and its own types itself.
func (c *Conn) CheckNamedValue(*driver.NamedValue) error { return nil }

// IsValid reports whether database/sql may keep the connection: the lease
// is still held, and the connection open and outside any transaction.
// database/sql asks after each use, so a lease that the pool revoked is
// discarded here even when no call failed with a bad connection.
func (c *Conn) IsValid() bool {
	c.returned = time.Now()
	return c.valid()
}

func (c *Conn) valid() bool {
	return c.lease.Raw(func(pc *pgx.Conn) error {
		if pc.IsClosed() || pc.PgConn().TxStatus() != 'I' {
			return driver.ErrBadConn
		}
		return nil
	}) == nil
}

// ResetSession runs before database/sql reuses the connection: it checks
// the lease, pings as OptionShouldPing says, and runs the function of
// OptionResetSession.
func (c *Conn) ResetSession(ctx context.Context) error {
	idle := time.Since(c.returned)
	if !c.valid() {
		return driver.ErrBadConn
	}
	ping := idle > time.Second
	if f := c.connector.shouldPing; f != nil {
		ping = f(ctx, ShouldPingParams{Conn: c.lease, IdleDuration: idle})
	}
	if ping {
		if err := c.lease.Ping(ctx); err != nil {
			return badConn{err}
		}
	}
	if f := c.connector.resetSession; f != nil {
		return f(ctx, c.lease)
	}
	return nil
}

// values converts database/sql's arguments to pgx's, after head. Names
// are dropped, as pgx's own driver drops them: PostgreSQL's parameters
// are positional.
func values(head []any, args []driver.NamedValue) []any {
	out := make([]any, len(head), len(head)+len(args))
	copy(out, head)
	for _, a := range args {
		out = append(out, a.Value)
	}
	return out
}

// badConn marks an error after which database/sql must discard the
// connection, and may retry the call on another because nothing was
// sent. It matches driver.ErrBadConn and still unwraps to its cause.
type badConn struct{ err error }

func (e badConn) Error() string        { return e.err.Error() }
func (e badConn) Unwrap() error        { return e.err }
func (e badConn) Is(target error) bool { return target == driver.ErrBadConn }

// connErr prepares a call's error for database/sql. A call refused by the
// lease check (the pool revoked the lease) or that failed before anything
// was sent is a bad connection: database/sql discards it and retries where
// it may. Any other error is passed through; database/sql then asks
// IsValid, which discards the connection if the lease is gone or the
// connection broke.
func connErr(err error) error {
	// The lease check returns poolguard's sentinels themselves; a revocation
	// that interrupted a call in flight wraps the call's error instead, and
	// that statement may have run.
	if err == poolguard.ErrLeaseRevoked || err == poolguard.ErrReleased || pgconn.SafeToRetry(err) {
		return badConn{err}
	}
	return err
}

// stmt is a prepared statement; its calls run through the Conn.
type stmt struct {
	conn *Conn
	sd   *pgconn.StatementDescription
}

func (s *stmt) Close() error {
	c := s.conn
	if c.stmts[s.sd.SQL]--; c.stmts[s.sd.SQL] > 0 {
		return nil
	}
	delete(c.stmts, s.sd.SQL)
	ctx, cancel := context.WithTimeout(context.Background(), deallocateTimeout)
	defer cancel()
	// pgx knows the statement by the name it was prepared under, its text.
	return c.lease.Raw(func(pc *pgx.Conn) error { return pc.Deallocate(ctx, s.sd.SQL) })
}

const deallocateTimeout = 5 * time.Second

func (s *stmt) NumInput() int { return len(s.sd.ParamOIDs) }

func (s *stmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("poolguard/stdlib: Stmt.Exec is not supported: database/sql calls ExecContext")
}

func (s *stmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("poolguard/stdlib: Stmt.Query is not supported: database/sql calls QueryContext")
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.conn.ExecContext(ctx, s.sd.SQL, args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.conn.QueryContext(ctx, s.sd.SQL, args)
}

// tx ends a transaction with the context that began it, as pgx's driver
// does: database/sql's Commit and Rollback take none.
type tx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t *tx) Commit() error   { return t.tx.Commit(t.ctx) }
func (t *tx) Rollback() error { return t.tx.Rollback(t.ctx) }
