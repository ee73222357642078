package poolguard

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard/internal/engine"
)

// Conn is a lease on one pooled connection: a handle that is valid from
// Acquire until Release. After Release, or after the pool revoked the lease,
// every method returns an error (ErrReleased, ErrLeaseRevoked) instead of
// touching a connection that may belong to someone else by then.
//
// A Conn is for one goroutine at a time, like pgx.Conn: a call made while
// another is in progress, or while rows are open, returns ErrConnBusy.
type Conn struct {
	slot    *engine.Slot[*pconn]
	gen     uint64
	part    *Partition
	scoped  bool        // acquired by With: use after the scope is an escape
	escaped atomic.Bool // the escape was reported
}

// enter starts a call on the lease.
func (c *Conn) enter() (*pconn, error) {
	switch c.slot.Enter(c.gen) {
	case engine.EnterOK:
		return c.slot.Res, nil
	case engine.EnterBusy:
		return nil, ErrConnBusy
	case engine.EnterRevoked:
		return nil, ErrLeaseRevoked
	}
	if c.scoped {
		if c.escaped.CompareAndSwap(false, true) {
			c.part.pool.report(LeakScopeEscaped, c.misuse())
		}
		return nil, fmt.Errorf("%w: the conn escaped the With scope that acquired it, which has returned", ErrReleased)
	}
	return nil, ErrReleased
}

// exit ends a call started with enter. If the lease was revoked during the
// call, the revocation has broken the connection and given its place back;
// exit closes what is left of it, and wraps the call's error, if any, to
// match ErrLeaseRevoked.
func (c *Conn) exit(pc *pconn, err error) error {
	pc.settle()
	if c.slot.Exit(c.gen) {
		c.part.pool.spawn(func() { closeConn(pc) })
		if err != nil {
			return fmt.Errorf("%w: %w", ErrLeaseRevoked, err)
		}
	}
	return err
}

// Release gives the connection back to the pool. It is safe to call more
// than once; later calls do nothing. A connection left in a transaction or
// broken is closed rather than reused, and so is one released with rows
// still open, whose result is cut short.
func (c *Conn) Release() {
	if c != nil {
		c.release(0, 0)
	}
}

// release ends the lease as its holder. If a call or rows are still in
// progress on it, the lease cannot be given back for reuse and is taken
// instead: why and kind, when not zero, say how to count and report that.
func (c *Conn) release(why ReclaimReason, kind LeakKind) {
	p := c.part.pool
	if p.track {
		runtime.SetFinalizer(c, nil)
	}
	p.end(c.slot, c.gen, engine.Release, why, kind)
}

// Partition returns the partition the connection was acquired from.
func (c *Conn) Partition() *Partition { return c.part }

// PID returns the server process ID of the connection's backend.
func (c *Conn) PID() uint32 { return c.slot.Res.pid }

// Exec runs sql with args and returns its command tag.
func (c *Conn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	pc, err := c.start(ctx, sql)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := pc.conn.Exec(ctx, sql, args...)
	return tag, c.exit(pc, err)
}

// Query runs sql with args. The connection stays busy until the rows are
// closed or fully read.
func (c *Conn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return c.query(ctx, sql, args, false)
}

func (c *Conn) query(ctx context.Context, sql string, args []any, release bool) (pgx.Rows, error) {
	pc, err := c.start(ctx, sql)
	if err != nil {
		return nil, err
	}
	r, err := pc.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, c.exit(pc, err)
	}
	return &rows{Rows: r, c: c, pc: pc, release: release}, nil
}

// QueryRow runs sql with args; Scan on the returned row reads the first row
// and frees the connection. An error is returned by Scan.
func (c *Conn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	r, err := c.query(ctx, sql, args, false)
	return &row{rows: r, err: err}
}

// SendBatch sends all queued queries of b in one round trip. The
// connection stays busy until the results are closed.
func (c *Conn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	pc, err := c.start(ctx, batchSQL(b))
	if err != nil {
		return &batchResults{err: err}
	}
	return &batchResults{BatchResults: pc.conn.SendBatch(ctx, b), c: c, pc: pc}
}

// CopyFrom copies rows into table with the COPY protocol, as
// pgx.Conn.CopyFrom.
func (c *Conn) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	pc, err := c.start(ctx, "COPY "+table.Sanitize())
	if err != nil {
		return 0, err
	}
	n, err := pc.conn.CopyFrom(ctx, table, columns, src)
	return n, c.exit(pc, err)
}

// Ping checks that the server answers.
func (c *Conn) Ping(ctx context.Context) error {
	pc, err := c.enter()
	if err != nil {
		return err
	}
	return c.exit(pc, pc.conn.Ping(ctx))
}

// Begin starts a transaction. Prefer WithTx, which always ends it.
func (c *Conn) Begin(ctx context.Context) (pgx.Tx, error) {
	return c.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx starts a transaction with options.
func (c *Conn) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	pc, err := c.start(ctx, "BEGIN")
	if err != nil {
		return nil, err
	}
	t, err := pc.conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, c.exit(pc, err)
	}
	c.exit(pc, nil) // nil in, nil out: the transaction started
	return &tx{inner: t, c: c}, nil
}

// Raw runs fn with the underlying pgx.Conn, for what Conn does not wrap
// (LISTEN, prepared statements, type registration). The lease counts as
// busy while fn runs; fn must not keep the pgx.Conn after it returns.
func (c *Conn) Raw(fn func(*pgx.Conn) error) error {
	pc, err := c.enter()
	if err != nil {
		return err
	}
	return c.exit(pc, fn(pc.conn))
}

// start enters the lease for statement sql, running the pool's injected
// faults, if any, first: a fault's error ends the call before anything is
// sent.
func (c *Conn) start(ctx context.Context, sql string) (*pconn, error) {
	pc, err := c.enter()
	if err != nil {
		return nil, err
	}
	if f := c.part.pool.faults.Load(); f != nil {
		if err := (*f).Call(ctx, c.part.cfg.Name, pc.pid, sql); err != nil {
			return nil, c.exit(pc, err)
		}
	}
	return pc, nil
}
