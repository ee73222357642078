package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
)

// The workload's operations, with their weights: how often each is picked.
var ops = []struct {
	kind   string
	weight int
}{
	{"with", 14},
	{"with_tx", 20},
	{"acquire_release", 10},
	{"rows_open", 8},
	{"conn_busy", 3},
	{"batch", 8},
	{"copy", 6},
	{"begin_commit", 10},
	{"slow_query", 4},
	{"offer_revoke", 4},
	{"panic_with", 2},
	{"panic_with_tx", 2},
	{leakDroppedConn, 1},
	{leakDroppedTx, 1},
	{leakRowsInScope, 1},
	{leakEscapedScope, 1},
}

// counter counts operations or faults that succeeded and failed.
type counter struct{ ok, failed atomic.Int64 }

func (c *counter) add(err error) {
	if err == nil {
		c.ok.Add(1)
	} else {
		c.failed.Add(1)
	}
}

func counters(kinds []string) map[string]*counter {
	m := make(map[string]*counter, len(kinds))
	for _, k := range kinds {
		m[k] = &counter{}
	}
	return m
}

// The ways the workload ends its own contexts early.
const (
	ctxDeadline = "short_deadline" // a deadline of a few milliseconds
	ctxCancel   = "cancel"         // cancelled from a timer at a random moment
)

// workload runs the operations on the pool from many goroutines.
type workload struct {
	t      *testing.T
	pool   *poolguard.Pool
	parts  []*poolguard.Partition
	ledger *ledger
	rec    *recorder
	offers *offered // leases offered to the chaos goroutine for revocation
	ops    map[string]*counter
	ctxs   map[string]*counter
	panics atomic.Int64 // deliberate panics recovered
}

func newWorkload(t *testing.T, pool *poolguard.Pool, l *ledger, rec *recorder, o *offered) *workload {
	kinds := make([]string, len(ops))
	for i, op := range ops {
		kinds[i] = op.kind
	}
	return &workload{t: t, pool: pool, parts: pool.Partitions(), ledger: l, rec: rec, offers: o,
		ops: counters(kinds), ctxs: counters([]string{ctxDeadline, ctxCancel})}
}

// worker runs random operations until stop is closed.
func (w *workload) worker(stop <-chan struct{}) {
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		n := rand.IntN(total)
		kind := ops[len(ops)-1].kind
		for _, op := range ops {
			if n < op.weight {
				kind = op.kind
				break
			}
			n -= op.weight
		}
		ctx, cancel := w.context()
		err := w.run(ctx, kind)
		cancel()
		w.ops[kind].add(err)
		if err != nil {
			// Back off a little: during a restart every call fails at once.
			time.Sleep(time.Duration(1+rand.IntN(5)) * time.Millisecond)
		}
	}
}

// context returns an operation's context: mostly a generous timeout,
// sometimes a deadline of a few milliseconds, sometimes a cancellation
// at a random moment.
func (w *workload) context() (context.Context, context.CancelFunc) {
	switch r := rand.IntN(100); {
	case r < 6:
		w.ctxs[ctxDeadline].ok.Add(1)
		return context.WithTimeout(context.Background(), time.Duration(1+rand.IntN(30))*time.Millisecond)
	case r < 12:
		w.ctxs[ctxCancel].ok.Add(1)
		ctx, cancel := context.WithCancel(context.Background())
		t := time.AfterFunc(time.Duration(rand.IntN(20_000))*time.Microsecond, cancel)
		return ctx, func() { t.Stop(); cancel() }
	}
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func (w *workload) part() *poolguard.Partition { return w.parts[rand.IntN(len(w.parts))] }

// target is what runs a batch or a copy: the pool or a partition.
type target interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

func (w *workload) target() target {
	if rand.IntN(2) == 0 {
		return w.pool
	}
	return w.part()
}

var (
	errRollback = errors.New("rolled back on purpose")
	errPanic    = errors.New("panic on purpose")
)

// run runs one operation of kind.
func (w *workload) run(ctx context.Context, kind string) error {
	switch kind {
	case "with":
		return w.part().With(ctx, func(c *poolguard.Conn) error {
			var n int
			return c.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n)
		})
	case "with_tx":
		return w.withTx(ctx)
	case "acquire_release":
		c, err := w.part().Acquire(ctx)
		if err != nil {
			return err
		}
		_, err = c.Exec(ctx, "SELECT 1")
		c.Release()
		return err
	case "rows_open":
		return w.rowsOpen(ctx)
	case "conn_busy":
		return w.connBusy(ctx)
	case "batch":
		return w.batch(ctx)
	case "copy":
		wr := w.ledger.newWrite("copy")
		n, err := w.target().CopyFrom(ctx, pgx.Identifier{"ledger"}, ledgerColumns, wr.copyRows())
		if err == nil && n != int64(len(wr.ids)) {
			err = fmt.Errorf("copied %d rows, want %d", n, len(wr.ids))
			w.t.Error(err)
		}
		w.ledger.settle(wr, outcomeOf(err, true))
		return err
	case "begin_commit":
		return w.beginCommit(ctx)
	case "slow_query":
		// Holds a backend in pg_sleep, often past the context's end.
		_, err := w.part().Exec(ctx, "SELECT pg_sleep($1)", float64(rand.IntN(300))/1000)
		return err
	case "offer_revoke":
		return w.offerRevoke(ctx)
	case "panic_with":
		return w.panicWith(ctx)
	case "panic_with_tx":
		return w.panicWithTx(ctx)
	case leakDroppedConn:
		return dropConn(ctx, w.part(), w.rec, w.offers)
	case leakDroppedTx:
		return dropTx(ctx, w.pool, w.ledger, w.rec)
	case leakRowsInScope:
		return rowsInScope(ctx, w.part(), w.rec)
	case leakEscapedScope:
		return escapeScope(ctx, w.t, w.part(), w.rec)
	}
	panic("unknown operation " + kind)
}

// outcomeOf is a write's outcome from the error of the call that would
// have committed it, if reached, or else of one before it.
func outcomeOf(err error, reached bool) outcome {
	switch {
	case err == nil:
		return committed
	case reached:
		return unknown // COMMIT may have run before the connection broke
	}
	return failed
}

// withTx writes to the ledger in WithTx, and sometimes rolls back.
func (w *workload) withTx(ctx context.Context) error {
	wr := w.ledger.newWrite("with_tx")
	rollback := rand.IntN(10) == 0
	reached := false
	err := w.part().WithTx(ctx, func(tx pgx.Tx) error {
		if err := wr.apply(ctx, tx); err != nil {
			return err
		}
		if rollback {
			return errRollback
		}
		reached = true // WithTx commits from here
		return nil
	})
	w.ledger.settle(wr, outcomeOf(err, reached))
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// beginCommit writes to the ledger in a transaction begun on the pool or
// a partition, which releases its lease when it ends.
func (w *workload) beginCommit(ctx context.Context) error {
	wr := w.ledger.newWrite("begin_commit")
	var tx pgx.Tx
	var err error
	if rand.IntN(2) == 0 {
		tx, err = w.pool.Begin(ctx)
	} else {
		tx, err = w.part().Begin(ctx)
	}
	if err != nil {
		w.ledger.settle(wr, failed)
		return err
	}
	if err := wr.apply(ctx, tx); err != nil {
		w.ledger.settle(wr, failed)
		_ = tx.Rollback(ctx)
		return err
	}
	err = tx.Commit(ctx)
	w.ledger.settle(wr, outcomeOf(err, true))
	return err
}

// batch writes to the ledger in one batch, which the server runs as one
// implicit transaction.
func (w *workload) batch(ctx context.Context) error {
	wr := w.ledger.newWrite("batch")
	b := &pgx.Batch{}
	wr.queue(b)
	br := w.target().SendBatch(ctx, b)
	var err error
	for range b.Len() {
		if _, e := br.Exec(); e != nil && err == nil {
			err = e
		}
	}
	if e := br.Close(); e != nil && err == nil {
		err = e
	}
	w.ledger.settle(wr, outcomeOf(err, true))
	return err
}

// rowsOpen reads a query's rows slowly, holding the lease busy, then
// closes them, which releases it.
func (w *workload) rowsOpen(ctx context.Context) error {
	rows, err := w.part().Query(ctx, "SELECT generate_series(1, $1::int)", 1+rand.IntN(50))
	if err != nil {
		return err
	}
	defer rows.Close()
	for i := 0; rows.Next(); i++ {
		if i == 0 {
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
		}
		if rand.IntN(4) == 0 {
			break // closed with rows unread
		}
	}
	rows.Close()
	return rows.Err()
}

// connBusy makes a call while rows are open on the same Conn, which must
// be refused, not interleaved on the wire.
func (w *workload) connBusy(ctx context.Context) error {
	return w.part().With(ctx, func(c *poolguard.Conn) error {
		rows, err := c.Query(ctx, "SELECT generate_series(1, 10)")
		if err != nil {
			return err
		}
		defer rows.Close()
		_, err = c.Exec(ctx, "SELECT 1")
		if !errors.Is(err, poolguard.ErrConnBusy) && !errors.Is(err, poolguard.ErrLeaseRevoked) {
			w.t.Errorf("a call while rows are open: %v, want ErrConnBusy", err)
		}
		for rows.Next() {
		}
		return rows.Err()
	})
}

// offerRevoke holds a lease offered to the chaos goroutine for
// revocation, for a moment: idle between calls, with a call in flight, or
// inside a transaction that writes to the ledger. It offers the lease
// only once a call has entered it, so its acquire has returned, and
// withdraws the offer before releasing it.
func (w *workload) offerRevoke(ctx context.Context) error {
	c, err := w.part().Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		return err
	}
	pid := c.PID()
	w.offers.add(pid)
	defer w.offers.remove(pid) // before the Release
	switch rand.IntN(3) {
	case 0:
		time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
		_, err = c.Exec(ctx, "SELECT 1")
		return err
	case 1:
		_, err = c.Exec(ctx, "SELECT pg_sleep($1)", float64(rand.IntN(200))/1000)
		return err
	}
	wr := w.ledger.newWrite("offer_revoke")
	tx, err := c.Begin(ctx)
	if err != nil {
		w.ledger.settle(wr, failed)
		return err
	}
	if err := wr.apply(ctx, tx); err != nil {
		w.ledger.settle(wr, failed)
		_ = tx.Rollback(ctx)
		return err
	}
	time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
	err = tx.Commit(ctx)
	w.ledger.settle(wr, outcomeOf(err, true))
	return err
}

// panicWith panics inside With with rows open; the worker recovers.
func (w *workload) panicWith(ctx context.Context) error {
	defer func() { w.recovered(recover()) }()
	return w.part().With(ctx, func(c *poolguard.Conn) error {
		rows, err := c.Query(ctx, "SELECT generate_series(1, 10)") //leakcheck:ignore the panic below leaves the rows open on purpose
		if err != nil {
			return err
		}
		_ = rows
		panic(errPanic)
	})
}

// panicWithTx panics inside WithTx after writing: the write must be
// rolled back.
func (w *workload) panicWithTx(ctx context.Context) error {
	wr := w.ledger.newWrite("panic_with_tx")
	defer func() {
		w.ledger.settle(wr, failed)
		w.recovered(recover())
	}()
	return w.part().WithTx(ctx, func(tx pgx.Tx) error {
		if err := wr.apply(ctx, tx); err != nil {
			return err
		}
		panic(errPanic)
	})
}

// recovered counts a deliberate panic that recover returned, and panics
// again with anything else. r is nil when the operation failed before it
// could panic.
func (w *workload) recovered(r any) {
	switch r {
	case nil:
	case errPanic:
		w.panics.Add(1)
	default:
		panic(r)
	}
}
