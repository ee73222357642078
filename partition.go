package poolguard

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard/internal/engine"
	"github.com/poolguard/poolguard/internal/stack"
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

	leaks     [numLeakKinds]atomic.Int64
	reclaims  [numReclaimReasons]atomic.Int64
	leakSites leakSites

	waitTime, useTime, openTime *histogram
}

// Name returns the partition's name.
func (pt *Partition) Name() string { return pt.cfg.Name }

// Acquire leases a connection, waiting in the partition's FIFO queue while
// none is available, until ctx ends. Release it when done, or prefer With,
// which cannot forget to. A refusal is an *AcquireError.
func (pt *Partition) Acquire(ctx context.Context) (*Conn, error) { return pt.acquire(ctx, false) }

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
func (pt *Partition) With(ctx context.Context, fn func(*Conn) error) error {
	c, err := pt.acquire(ctx, true)
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		// After a panic, rows left open are expected, so the connection is
		// closed without a report.
		kind := LeakKind(0)
		if returned {
			kind = LeakScopeEscaped
		}
		c.release(ReclaimScope, kind)
	}()
	err = fn(c)
	returned = true
	return err
}

// WithTx runs fn in a transaction on a leased connection: it commits when
// fn returns nil, and rolls back when fn returns an error or panics (then
// panics again). The connection is released in every case.
func (pt *Partition) WithTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pt.WithTxOptions(ctx, pgx.TxOptions{}, fn)
}

// WithTxOptions is WithTx with the transaction's options, as
// pgx.BeginTxFunc takes them.
func (pt *Partition) WithTxOptions(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	return pt.With(ctx, func(c *Conn) error {
		t, err := c.BeginTx(ctx, opts)
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

// AcquireFunc acquires a connection, calls f with it and releases it when
// f returns: pgxpool's name for With, so that code moves over unchanged.
func (pt *Partition) AcquireFunc(ctx context.Context, f func(*Conn) error) error {
	return pt.With(ctx, f)
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
// released when the rows are closed or read to the end. As pgx's, it never
// returns nil rows: on an error, the acquire's included, the rows carry it.
func (pt *Partition) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return pt.query(ctx, sql, args, nil)
}

// QueryRow acquires a connection and runs sql with args; Scan on the
// returned row reads the first row and releases the connection.
func (pt *Partition) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rw := new(row)
	rw.rows, _ = pt.query(ctx, sql, args, &rw.own)
	return rw
}

func (pt *Partition) query(ctx context.Context, sql string, args []any, into *rows) (pgx.Rows, error) {
	c, err := pt.acquire(ctx, false)
	if err != nil {
		return errRows{err}, err
	}
	return c.query(ctx, nil, sql, args, true, into)
}

// SendBatch acquires a connection and sends b on it; the connection is
// released when the results are closed, or, for a batch that began a
// transaction (pgx.Batch.BeginTx), when the transaction ends. A failed
// acquire gives results that return its error from every method.
func (pt *Partition) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	c, err := pt.acquire(ctx, false)
	if err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return c.sendBatch(ctx, nil, b, true)
}

// CopyFrom acquires a connection, copies rows into table with the COPY
// protocol and releases it.
func (pt *Partition) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	c, err := pt.acquire(ctx, false)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	return c.CopyFrom(ctx, table, columns, src)
}

// Begin acquires a connection and starts a transaction on it. The
// connection is released when the transaction is committed or rolled
// back; a transaction dropped without either is proven leaked, with the
// call site of Begin. Prefer WithTx, which always ends it.
func (pt *Partition) Begin(ctx context.Context) (pgx.Tx, error) {
	return pt.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx is Begin with options.
func (pt *Partition) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	c, err := pt.acquire(ctx, false)
	if err != nil {
		return nil, err
	}
	t, err := c.beginTx(ctx, opts, true)
	if err != nil {
		c.Release()
		return nil, err
	}
	return t, nil
}

// Ping acquires a connection, checks that the server answers and releases
// it.
func (pt *Partition) Ping(ctx context.Context) error {
	c, err := pt.acquire(ctx, false)
	if err != nil {
		return err
	}
	defer c.Release()
	return c.Ping(ctx)
}

// AcquireAllIdle leases every idle connection the partition may hold now,
// without waiting, as pgxpool's does for a whole pool: for keep-alive work
// on idle connections. Connections that PrepareConn refuses are closed.
func (pt *Partition) AcquireAllIdle(ctx context.Context) []*Conn {
	if pt.err != nil {
		return nil
	}
	p := pt.pool
	var buf [engine.MaxStack]uintptr
	pcs := buf[:stack.Callers(2, buf[:p.depth])]
	var out []*Conn
	for _, s := range p.eng.TakeIdle(pt.idx, pcs) {
		if ok, err := pt.check(ctx, s, true); !ok || err != nil {
			continue
		}
		out = append(out, newConn(s, false))
	}
	return out
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

// Err returns nil for a configured partition. For the handle Pool.Partition
// returns for a name that is not configured, it returns the error that
// every call on it returns, matching ErrNoPartition: check it at start-up to
// fail fast on a misspelt name.
func (pt *Partition) Err() error { return pt.err }

// Stats returns a snapshot of the partition.
// The handle of an unknown name reports only its name.
func (pt *Partition) Stats() PartitionStats {
	if pt.err != nil {
		return PartitionStats{Name: pt.cfg.Name}
	}
	return pt.pool.Stats().Partitions[pt.idx]
}

// Leases returns a snapshot of the partition's leases, oldest first.
func (pt *Partition) Leases() []LeaseInfo {
	if pt.err != nil {
		return nil
	}
	return slices.DeleteFunc(pt.pool.Leases(), func(l LeaseInfo) bool { return l.Partition != pt.cfg.Name })
}
