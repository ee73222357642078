package poolguard

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

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
//
// The handle is allocated on every acquire, so it is kept to 32 bytes.
type Conn struct {
	slot  *engine.Slot[*pconn]
	gen   uint64
	tok   *token        // the connection's leak token while this lease holds it; swapped atomically
	flags atomic.Uint32 // flagScoped, flagEscaped
}

const (
	flagScoped  = 1 << iota // acquired by With: use after the scope is an escape
	flagEscaped             // the escape was reported
)

// newConn returns the handle of the lease just granted on s, holding the
// connection's leak token.
func newConn(s *engine.Slot[*pconn], scoped bool) *Conn {
	c := &Conn{slot: s, gen: s.Gen(), tok: s.Res.takeToken(s)}
	if scoped {
		c.flags.Store(flagScoped)
	}
	return c
}

// part returns the partition of the connection.
func (c *Conn) part() *Partition { return c.slot.Res.part }

// returnToken gives the connection its leak token back, so that dropping
// this handle proves nothing.
func (c *Conn) returnToken() {
	p := (*unsafe.Pointer)(unsafe.Pointer(&c.tok))
	t := (*token)(atomic.SwapPointer(p, nil))
	if t == nil {
		return
	}
	pc := c.slot.Res
	pc.token.Store(t)
	if !c.slot.Held(c.gen) {
		// The lease was taken back, and its connection is closing or
		// closed, perhaps before the token came back: disarm it here, or
		// the token and the connection, which point at each other, would
		// never be freed.
		pc.discardToken()
	}
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
	if f := c.flags.Load(); f&flagScoped != 0 {
		if f&flagEscaped == 0 && c.flags.CompareAndSwap(f, f|flagEscaped) {
			c.part().pool.report(LeakScopeEscaped, c.misuse())
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
		c.part().pool.spawn(func() { c.part().pool.closeConn(pc) })
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
	p := c.part().pool
	c.returnToken()
	if p.cfg.AfterRelease != nil || p.releaseTracer != nil {
		c.afterRelease()
	}
	p.end(c.slot, c.gen, engine.Release, why, kind)
}

// afterRelease runs the release hooks on the connection while the lease is
// still this Conn's, so that nobody else can be using it.
func (c *Conn) afterRelease() {
	if c.slot.Enter(c.gen) != engine.EnterOK {
		return // ended already, or busy: then it is not reused anyway
	}
	p, pc := c.part().pool, c.slot.Res
	if t := p.releaseTracer; t != nil {
		t.TraceRelease(p, TraceReleaseData{Partition: c.part().cfg.Name, Conn: pc.conn, Held: time.Since(c.slot.Acquired())})
	}
	keep := true
	if ar := p.cfg.AfterRelease; ar != nil {
		keep = ar(pc.conn)
	}
	c.exit(pc, nil)
	if !keep {
		pc.discard()
	}
}

// Partition returns the partition the connection was acquired from.
func (c *Conn) Partition() *Partition { return c.part() }

// PID returns the server process ID of the connection's backend.
func (c *Conn) PID() uint32 { return c.slot.Res.pid }

// Exec runs sql with args and returns its command tag.
func (c *Conn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return c.exec(ctx, nil, sql, args)
}

// Query runs sql with args. The connection stays busy until the rows are
// closed or fully read. As pgx's, it never returns nil rows: on an error
// the rows carry it too, so pgx.CollectRows and its kind may be given them
// unchecked.
func (c *Conn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return c.query(ctx, nil, sql, args, false, nil)
}

// QueryRow runs sql with args; Scan on the returned row reads the first row
// and frees the connection. An error is returned by Scan.
func (c *Conn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rw := new(row)
	rw.rows, _ = c.query(ctx, nil, sql, args, false, &rw.own)
	return rw
}

// SendBatch sends all queued queries of b in one round trip. The
// connection stays busy until the results are closed. A batch that could
// not be sent gives results that return the error from every method, as
// pgx's do.
func (c *Conn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return c.sendBatch(ctx, nil, b, false)
}

// CopyFrom copies rows into table with the COPY protocol, as
// pgx.Conn.CopyFrom.
func (c *Conn) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return c.copyFrom(ctx, nil, table, columns, src)
}

// executor runs statements: the connection itself, or a transaction on it,
// which also checks that it is still open.
type executor interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// on returns what runs statements for a call: via, a transaction, if not
// nil, else the connection.
func on(pc *pconn, via pgx.Tx) executor {
	if via != nil {
		return via
	}
	return pc.conn
}

func (c *Conn) exec(ctx context.Context, via pgx.Tx, sql string, args []any) (pgconn.CommandTag, error) {
	pc, err := c.start(ctx, sql)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := on(pc, via).Exec(ctx, sql, args...)
	return tag, c.exit(pc, err)
}

// query runs sql; release has the rows release the lease when they finish.
//
// The rows are into, if not nil, so that a row and its rows take one
// allocation.
func (c *Conn) query(ctx context.Context, via pgx.Tx, sql string, args []any, release bool, into *rows) (pgx.Rows, error) {
	pc, err := c.start(ctx, sql)
	if err == nil {
		var r pgx.Rows
		if r, err = on(pc, via).Query(ctx, sql, args...); err == nil {
			pc.rowsOpen.Store(true)
			if into == nil {
				into = new(rows)
			}
			*into = rows{Rows: r, c: c, pc: pc, release: release}
			return into, nil
		}
		err = c.exit(pc, err)
	}
	if release {
		c.Release()
	}
	return errRows{err}, err
}

// sendBatch sends b; release has the results release the lease when they
// are closed (or, for a batch that began a transaction, when it ends).
func (c *Conn) sendBatch(ctx context.Context, via pgx.Tx, b *pgx.Batch, release bool) pgx.BatchResults {
	pc, err := c.start(ctx, batchSQL(b))
	if err != nil {
		if release {
			c.Release()
		}
		return pgx.FailedBatchResults(b, err)
	}
	br := &batchResults{BatchResults: on(pc, via).SendBatch(ctx, b), c: c, pc: pc, release: release}
	pc.rowsOpen.Store(true)
	if t := br.BatchResults.Tx(); t != nil {
		br.tx = &tx{inner: t, c: c, release: release}
	}
	return br
}

func (c *Conn) copyFrom(ctx context.Context, via pgx.Tx, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	pc, err := c.start(ctx, "COPY "+table.Sanitize())
	if err != nil {
		return 0, err
	}
	n, err := on(pc, via).CopyFrom(ctx, table, columns, src)
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
	return c.beginTx(ctx, opts, false)
}

// beginTx starts a transaction; release has it release the lease when it
// ends (a transaction begun on the pool).
func (c *Conn) beginTx(ctx context.Context, opts pgx.TxOptions, release bool) (pgx.Tx, error) {
	pc, err := c.start(ctx, "BEGIN")
	if err != nil {
		return nil, err
	}
	t, err := pc.conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, c.exit(pc, err)
	}
	c.exit(pc, nil) // nil in, nil out: the transaction started
	return &tx{inner: t, c: c, release: release}, nil
}

// Raw runs fn with the underlying pgx.Conn, for what Conn does not wrap
// (LISTEN, prepared statements, type registration). The lease counts as
// busy while fn runs. Since nothing stops fn from keeping the pgx.Conn, the
// connection is exposed: the lease can no longer be proven leaked by the
// garbage collector (MaxHold and suspects still apply), and the connection
// is closed rather than reused when the lease ends, so that a pgx.Conn
// kept beyond the lease stops working instead of reaching the next
// holder's session.
func (c *Conn) Raw(fn func(*pgx.Conn) error) error {
	pc, err := c.enter()
	if err != nil {
		return err
	}
	c.expose(pc)
	return c.exit(pc, fn(pc.conn))
}

// Conn returns the underlying pgx.Conn, as pgxpool's Conn.Conn does, or nil
// once the lease has ended. Calls made on it bypass the lease's checks, and
// it exposes the connection as Raw does: closed, not reused, when the lease
// ends. Prefer Raw, whose scope says how long the pgx.Conn may be used.
func (c *Conn) Conn() *pgx.Conn {
	if !c.slot.Held(c.gen) {
		return nil
	}
	pc := c.slot.Res
	c.expose(pc)
	return pc.conn
}

// expose marks the connection as handed out beyond the lease's checks (see
// Raw): it is closed when the lease ends, and the lease is pinned, since
// the pgx.Conn may outlive this handle.
func (c *Conn) expose(pc *pconn) {
	if pc.exposed.CompareAndSwap(false, true) {
		c.pin()
	}
}

// pin stops the garbage collector's proof of a leak for this lease: an
// object that reaches the connection without holding the Conn (a pgx.Conn,
// large objects) may still be in use when the Conn is unreachable.
// MaxHold, suspects and Close still apply.
func (c *Conn) pin() { c.returnToken() }

// Hijack takes the connection out of the pool, as pgxpool's Conn.Hijack
// does: the lease ends, the pool stops counting the connection, and the
// caller owns the returned pgx.Conn and must close it. It fails with the
// lease's error when the lease has ended, and with ErrConnBusy while a
// call or rows are in progress.
func (c *Conn) Hijack() (*pgx.Conn, error) {
	p := c.part().pool
	if err := c.check(); err != nil {
		return nil, err
	}
	c.returnToken()
	if !p.end(c.slot, c.gen, engine.Detach, 0, 0) {
		return nil, c.check()
	}
	c.slot.Res.discardToken()
	return c.slot.Res.conn, nil
}

// check reports the lease's error, if a call cannot be made on it now.
func (c *Conn) check() error {
	pc, err := c.enter()
	if err != nil {
		return err
	}
	return c.exit(pc, nil)
}

// start enters the lease for statement sql, running the pool's injected
// faults, if any, first: a fault's error ends the call before anything is
// sent.
func (c *Conn) start(ctx context.Context, sql string) (*pconn, error) {
	pc, err := c.enter()
	if err != nil {
		return nil, err
	}
	if f := c.part().pool.faults.Load(); f != nil {
		if err := (*f).Call(ctx, c.part().cfg.Name, pc.pid, sql); err != nil {
			return nil, c.exit(pc, err)
		}
	}
	return pc, nil
}
