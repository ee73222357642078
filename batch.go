package poolguard

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// batchResults are the results of a batch sent on a lease. They hold the
// Conn, and so do the rows they return, so the lease is not proven leaked
// while either is in use; closing them ends the call (and, for a batch
// sent on the pool or a partition, releases the lease, or hands it to the
// transaction the batch began).
type batchResults struct {
	pgx.BatchResults
	c       *Conn
	pc      *pconn
	tx      *tx // the transaction the batch began, if any
	release bool
	closed  bool
	err     error // Close's error
}

func (b *batchResults) Exec() (pgconn.CommandTag, error) { return b.BatchResults.Exec() }

// Query returns the next query's rows, which keep the lease alive while
// they are in use.
func (b *batchResults) Query() (pgx.Rows, error) {
	r, err := b.BatchResults.Query()
	if r != nil {
		r = &rows{Rows: r, c: b.c}
	}
	return r, err
}

func (b *batchResults) QueryRow() pgx.Row {
	r, _ := b.Query()
	return &row{rows: r}
}

// Tx returns the transaction begun by pgx.Batch.BeginTx, or nil, checked
// against the lease like the Conn's own calls.
func (b *batchResults) Tx() pgx.Tx {
	if b.tx == nil {
		return nil
	}
	return b.tx
}

// Close reads the remaining results and ends the call. It is safe to call
// more than once, as pgx's.
func (b *batchResults) Close() error {
	if b.closed {
		return b.err
	}
	b.closed = true
	b.pc.rowsOpen.Store(false)
	b.err = b.c.exit(b.pc, b.BatchResults.Close())
	// A transaction the batch began holds the lease until it ends.
	if b.release && (b.tx == nil || !b.pc.inTx()) {
		b.c.Release()
	}
	return b.err
}

// batchSQL names a batch by its first statement, for faults.
func batchSQL(b *pgx.Batch) string {
	if b == nil || len(b.QueuedQueries) == 0 {
		return ""
	}
	return b.QueuedQueries[0].SQL
}
