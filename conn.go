package poolguard

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

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
			c.part.pool.reportEscape(c)
		}
		return nil, fmt.Errorf("%w: the conn escaped the With scope that acquired it, which has returned", ErrReleased)
	}
	return nil, ErrReleased
}

// exit ends a call started with enter. If the lease was revoked during the
// call, the connection is destroyed now that nobody uses it, and the call's
// error, if any, is wrapped to match ErrLeaseRevoked.
func (c *Conn) exit(pc *pconn, err error) error {
	pc.tx.Store(uint32(pc.conn.PgConn().TxStatus()))
	if c.slot.Exit(c.gen) {
		c.part.pool.destroy(pc)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrLeaseRevoked, err)
		}
	}
	return err
}

// Release gives the connection back to the pool. It is safe to call more
// than once; later calls do nothing. A connection left in a transaction or
// broken is closed rather than reused.
func (c *Conn) Release() {
	if c == nil {
		return
	}
	if c.slot.End(c.gen) {
		c.part.release(c)
		return
	}
	if c.slot.Busy(c.gen) {
		// Released with rows still open: the connection is in the middle
		// of a result, so it cannot be reused; it closes when the rows do.
		c.part.pool.revoke(c.slot, c.gen, reclaimNone, 0)
	}
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

// finalize runs when a Conn became unreachable. A lease still open then
// can never be released by anyone: the leak is proven. Its slot is
// reclaimed and its connection destroyed.
func (c *Conn) finalize() {
	if !c.slot.ForceEnd(c.gen) {
		return
	}
	// The finalizer goroutine runs every finalizer of the program: it only
	// hands the work over.
	pt, s := c.part, c.slot
	pt.pool.bg.Add(1)
	go pt.reclaimLeaked(s)
}

// reclaimLeaked takes back the slot of a lease proven leaked, reports it
// and destroys its connection.
func (pt *Partition) reclaimLeaked(s *engine.Slot[*pconn]) {
	p := pt.pool
	defer p.bg.Done()
	if l, ok := p.eng.Reclaim(s); ok {
		pt.useTime.observe(time.Since(l.Acquired))
		pt.reclaims[ReclaimLeak].Add(1)
		p.report(LeakUnreachable, l)
	}
	p.destroy(s.Res)
}

// rows frees the connection when the result is closed or read to the end.
type rows struct {
	pgx.Rows
	c       *Conn
	pc      *pconn
	release bool // release the lease too (Pool.Query)
	done    bool
	err     error // the final error, once done
}

func (r *rows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

// Scan scans the current row. pgx closes the rows when Scan fails.
func (r *rows) Scan(dest ...any) error {
	err := r.Rows.Scan(dest...)
	if err != nil {
		r.finish()
	}
	return err
}

func (r *rows) Close() {
	r.Rows.Close()
	r.finish()
}

func (r *rows) finish() {
	if r.done {
		return
	}
	r.done = true
	r.err = r.c.exit(r.pc, r.Rows.Err())
	if r.release {
		r.c.Release()
	}
}

// Err returns the rows' error, matching ErrLeaseRevoked if the lease was
// revoked while they were read.
func (r *rows) Err() error {
	if r.done {
		return r.err
	}
	return r.Rows.Err()
}

// row is the result of QueryRow, with pgx's semantics.
type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	rs := r.rows
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rs.Scan(dest...); err != nil {
		return err
	}
	rs.Close()
	return rs.Err()
}

// batchResults frees the connection when closed.
type batchResults struct {
	pgx.BatchResults
	c   *Conn
	pc  *pconn
	err error // the batch could not be sent
}

func (b *batchResults) Exec() (pgconn.CommandTag, error) {
	if b.err != nil {
		return pgconn.CommandTag{}, b.err
	}
	return b.BatchResults.Exec()
}

func (b *batchResults) Query() (pgx.Rows, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.BatchResults.Query()
}

func (b *batchResults) QueryRow() pgx.Row {
	if b.err != nil {
		return &row{err: b.err}
	}
	return b.BatchResults.QueryRow()
}

func (b *batchResults) Close() error {
	if b.err != nil || b.pc == nil {
		return b.err
	}
	err := b.c.exit(b.pc, b.BatchResults.Close())
	b.pc = nil
	return err
}

// tx is a transaction on a leased connection; each call is checked against
// the lease like the Conn's own.
type tx struct {
	inner pgx.Tx
	c     *Conn
}

func (t *tx) Begin(ctx context.Context) (pgx.Tx, error) {
	pc, err := t.c.start(ctx, "SAVEPOINT")
	if err != nil {
		return nil, err
	}
	in, err := t.inner.Begin(ctx)
	if err != nil {
		return nil, t.c.exit(pc, err)
	}
	t.c.exit(pc, nil) // nil in, nil out: the savepoint exists
	return &tx{inner: in, c: t.c}, nil
}

func (t *tx) Commit(ctx context.Context) error {
	pc, err := t.c.start(ctx, "COMMIT")
	if err != nil {
		return err
	}
	return t.c.exit(pc, t.inner.Commit(ctx))
}

func (t *tx) Rollback(ctx context.Context) error {
	pc, err := t.c.start(ctx, "ROLLBACK")
	if err != nil {
		return err
	}
	return t.c.exit(pc, t.inner.Rollback(ctx))
}

func (t *tx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	pc, err := t.c.start(ctx, "COPY "+table.Sanitize())
	if err != nil {
		return 0, err
	}
	n, err := t.inner.CopyFrom(ctx, table, columns, src)
	return n, t.c.exit(pc, err)
}

func (t *tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	pc, err := t.c.start(ctx, batchSQL(b))
	if err != nil {
		return &batchResults{err: err}
	}
	return &batchResults{BatchResults: t.inner.SendBatch(ctx, b), c: t.c, pc: pc}
}

func (t *tx) LargeObjects() pgx.LargeObjects { return t.inner.LargeObjects() }

func (t *tx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	pc, err := t.c.enter()
	if err != nil {
		return nil, err
	}
	sd, err := t.inner.Prepare(ctx, name, sql)
	return sd, t.c.exit(pc, err)
}

func (t *tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	pc, err := t.c.start(ctx, sql)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := t.inner.Exec(ctx, sql, args...)
	return tag, t.c.exit(pc, err)
}

func (t *tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	pc, err := t.c.start(ctx, sql)
	if err != nil {
		return nil, err
	}
	r, err := t.inner.Query(ctx, sql, args...)
	if err != nil {
		return nil, t.c.exit(pc, err)
	}
	return &rows{Rows: r, c: t.c, pc: pc}, nil
}

func (t *tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	r, err := t.Query(ctx, sql, args...)
	return &row{rows: r, err: err}
}

// Conn returns the underlying pgx.Conn. Calls made on it directly bypass
// the lease checks.
func (t *tx) Conn() *pgx.Conn { return t.inner.Conn() }

// setFinalizer arms the proof of leak by garbage collection. A finalizer
// rather than runtime.AddCleanup: see docs/architecture.md.
func setFinalizer(c *Conn) { runtime.SetFinalizer(c, (*Conn).finalize) }

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

// batchSQL names a batch by its first statement, for faults.
func batchSQL(b *pgx.Batch) string {
	if b == nil || len(b.QueuedQueries) == 0 {
		return ""
	}
	return b.QueuedQueries[0].SQL
}
