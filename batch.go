package poolguard

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

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

// batchSQL names a batch by its first statement, for faults.
func batchSQL(b *pgx.Batch) string {
	if b == nil || len(b.QueuedQueries) == 0 {
		return ""
	}
	return b.QueuedQueries[0].SQL
}
