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

// Partition is one workload's share of a pool: a bulkhead with its own
// guarantee, maximum, wait queue and lease limits. It has the same
// acquiring methods as Pool. It is safe for concurrent use.
type Partition struct {
	pool       *Pool
	idx        int
	cfg        PartitionConfig
	connConfig *pgx.ConnConfig
	err        error // set on the handle of an unknown name

	leaks    [numLeakKinds]atomic.Int64
	reclaims [numReclaimReasons]atomic.Int64

	waitTime, useTime, createTime *histogram
}

// Name returns the partition's name.
func (pt *Partition) Name() string { return pt.cfg.Name }

// Acquire leases a connection, waiting in the partition's FIFO queue while
// none is available, until ctx ends. Release it when done, or prefer With,
// which cannot forget to. A refusal is an *AcquireError.
func (pt *Partition) Acquire(ctx context.Context) (*Conn, error) { return pt.acquire(ctx, false) }

func (pt *Partition) acquire(ctx context.Context, scoped bool) (*Conn, error) {
	if pt.err != nil {
		return nil, pt.err
	}
	p := pt.pool
	if f := p.faults.Load(); f != nil {
		if err := (*f).Acquire(ctx, pt.cfg.Name); err != nil {
			return nil, err
		}
	}
	var buf [engine.MaxStack]uintptr
	var pcs []uintptr
	if p.depth > 0 {
		// Frames inside this package are trimmed when the stack is
		// formatted, so one skip count serves every entry point.
		pcs = buf[:runtime.Callers(2, buf[:p.depth])]
	}
	for {
		g, reason, waited := p.eng.Acquire(ctx, pt.idx, pcs)
		if reason != engine.ReasonNone {
			return nil, pt.refused(ctx, reason, waited)
		}
		s := g.Slot
		if s == nil {
			var err error
			var opening time.Duration
			if s, opening, err = pt.open(ctx, g.Evict, pcs); err != nil {
				return nil, err
			}
			waited += opening
		} else if !pt.healthy(ctx, s) {
			continue
		}
		pt.waitTime.observe(waited)
		c := &Conn{slot: s, gen: s.Gen(), part: pt, scoped: scoped}
		if p.track {
			setFinalizer(c)
		}
		return c, nil
	}
}

// open opens a connection for a grant that came without one, first closing
// the idle connection of another partition it evicts, if any.
func (pt *Partition) open(ctx context.Context, evict *engine.Slot[*pconn], pcs []uintptr) (*engine.Slot[*pconn], time.Duration, error) {
	p := pt.pool
	start := time.Now()
	if evict != nil {
		// The evicted connection's place under MaxConns passes to the new
		// one, so it is closed here rather than given back.
		cctx, cancel := context.WithTimeout(context.Background(), closeConnTimeout)
		_ = evict.Res.conn.Close(cctx)
		cancel()
	}
	pc, err := pt.connect(ctx)
	took := time.Since(start)
	if err != nil {
		p.eng.CreateFailed(pt.idx)
		return nil, took, fmt.Errorf("poolguard: open a connection for partition %q: %w", pt.cfg.Name, err)
	}
	return p.eng.Created(pt.idx, pc, p.expiry(), pcs), took, nil
}

func (pt *Partition) connect(ctx context.Context) (*pconn, error) {
	start := time.Now()
	conn, err := pgx.ConnectConfig(ctx, pt.connConfig)
	if err != nil {
		return nil, err
	}
	pt.createTime.observe(time.Since(start))
	if ac := pt.pool.cfg.AfterConnect; ac != nil {
		if err := ac(ctx, conn); err != nil {
			_ = conn.Close(ctx)
			return nil, fmt.Errorf("AfterConnect: %w", err)
		}
	}
	pc := &pconn{conn: conn, pid: conn.PgConn().PID()}
	pc.tx.Store('I')
	return pc, nil
}

func (pt *Partition) connectTimeout() time.Duration {
	if d := pt.connConfig.ConnectTimeout; d > 0 {
		return d
	}
	return 10 * time.Second
}

// healthy checks a connection taken from the idle list; a broken one is
// destroyed and healthy reports false, and the caller acquires again.
func (pt *Partition) healthy(ctx context.Context, s *engine.Slot[*pconn]) bool {
	pc := s.Res
	ok := !pc.conn.IsClosed()
	if ok && pt.pool.cfg.PingAfterIdle > 0 {
		// The lease's start time serves as now: one clock read less on the
		// hot path.
		acquired, _ := s.LeaseInfo()
		if acquired.Sub(s.IdleSince()) > pt.pool.cfg.PingAfterIdle {
			ok = pc.conn.Ping(ctx) == nil
		}
	}
	if !ok {
		s.End(s.Gen())
		pt.pool.eng.Release(s, false)
		pt.pool.destroy(pc)
	}
	return ok
}

// release gives back a lease its holder ended.
func (pt *Partition) release(c *Conn) {
	p := pt.pool
	if p.track {
		runtime.SetFinalizer(c, nil)
	}
	pc := c.slot.Res
	reuse := !pc.conn.IsClosed() && pc.conn.PgConn().TxStatus() == 'I'
	kept, held, suspected := p.eng.Release(c.slot, reuse)
	pt.useTime.observe(held)
	if !kept {
		p.destroy(pc)
	}
	if suspected {
		p.reportReturned(c)
	}
}

// refused builds the error for a refused acquire.
func (pt *Partition) refused(ctx context.Context, r engine.Reason, waited time.Duration) error {
	e := &AcquireError{Partition: pt.cfg.Name, Waited: waited}
	switch r {
	case engine.ReasonClosed:
		e.Err = ErrClosed
	case engine.ReasonPaused:
		e.Err = ErrPaused
	case engine.ReasonQueueFull:
		e.Err = ErrQueueFull
	case engine.ReasonDeadline, engine.ReasonTimeout:
		e.Err = ErrAcquireTimeout
		e.Cause = context.DeadlineExceeded
	case engine.ReasonCanceled:
		// A caller that gave up is not a timeout: its own error says so.
		e.Err = context.Cause(ctx)
		if e.Err == nil {
			e.Err = context.Canceled
		}
	}
	st := pt.pool.eng.Stats().Parts[pt.idx]
	e.InUse, e.Max, e.Waiting = st.Held, st.Max, st.Waiting
	if r != engine.ReasonClosed && r != engine.ReasonPaused {
		e.Holders = pt.pool.holders(pt.idx)
	}
	return e
}

// With runs fn with a leased connection and releases it when fn returns or
// panics: the recommended way to use a connection, since no path through fn
// can leak it. The Conn must not be used after fn returns; a use, or a call
// or rows still in progress then, is reported as a leak that escaped its
// scope, and the connection is destroyed.
func (pt *Partition) With(ctx context.Context, fn func(*Conn) error) error { return pt.with(ctx, fn) }

func (pt *Partition) with(ctx context.Context, fn func(*Conn) error) error {
	c, err := pt.acquire(ctx, true)
	if err != nil {
		return err
	}
	returned := false
	defer func() { pt.endScope(c, returned) }()
	err = fn(c)
	returned = true
	return err
}

// endScope ends a With scope. After a panic, rows left open are expected,
// so the connection is destroyed without a report.
func (pt *Partition) endScope(c *Conn, returned bool) {
	if c.slot.End(c.gen) {
		pt.release(c)
		return
	}
	if c.slot.Busy(c.gen) {
		kind := LeakScopeEscaped
		if !returned {
			kind = 0
		}
		pt.pool.revoke(c.slot, c.gen, ReclaimScope, kind)
	}
}

// WithTx runs fn in a transaction on a leased connection: it commits when
// fn returns nil, and rolls back when fn returns an error or panics (then
// panics again). The connection is released in every case.
func (pt *Partition) WithTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pt.withTx(ctx, fn)
}

func (pt *Partition) withTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pt.with(ctx, func(c *Conn) error {
		t, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		committed := false
		defer func() {
			if !committed {
				rollback(ctx, t)
			}
		}()
		if err := fn(t); err != nil {
			return err
		}
		committed = true
		return t.Commit(ctx)
	})
}

// rollback rolls back t even when ctx has ended, within a bounded time. A
// connection whose rollback fails is left in its transaction and so is
// closed on release instead of reused.
func rollback(ctx context.Context, t pgx.Tx) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeConnTimeout)
	defer cancel()
	_ = t.Rollback(rctx)
}

// Exec acquires a connection, runs sql with args and releases it.
func (pt *Partition) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := pt.acquire(ctx, false)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

// Query acquires a connection and runs sql with args; the connection is
// released when the rows are closed or read to the end.
func (pt *Partition) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := pt.acquire(ctx, false)
	if err != nil {
		return nil, err
	}
	r, err := c.query(ctx, sql, args, true)
	if err != nil {
		c.Release()
		return nil, err
	}
	return r, nil
}

// QueryRow acquires a connection and runs sql with args; Scan on the
// returned row reads the first row and releases the connection.
func (pt *Partition) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	r, err := pt.Query(ctx, sql, args...)
	return &row{rows: r, err: err}
}

// Pause makes the partition refuse acquires with ErrPaused, including the
// callers already waiting, until Resume. Leases already held are not
// affected. It stops a runaway workload without a deploy.
func (pt *Partition) Pause() error { return pt.setPaused(true) }

// Resume ends a Pause.
func (pt *Partition) Resume() error { return pt.setPaused(false) }

func (pt *Partition) setPaused(paused bool) error {
	if pt.err != nil {
		return pt.err
	}
	pt.pool.eng.SetPaused(pt.idx, paused)
	return nil
}

// Paused reports whether the partition is paused.
func (pt *Partition) Paused() bool { return pt.err == nil && pt.pool.eng.Paused(pt.idx) }

// Exec acquires a connection of the first partition, runs sql and
// releases it.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return p.parts[0].Exec(ctx, sql, args...)
}

// Query acquires a connection of the first partition and runs sql; the
// connection is released when the rows are closed or read to the end.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return p.parts[0].Query(ctx, sql, args...)
}

// QueryRow acquires a connection of the first partition and runs sql; Scan
// releases it.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return p.parts[0].QueryRow(ctx, sql, args...)
}
