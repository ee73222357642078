package poolguard

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// tx is a transaction on a leased connection: each call is checked against
// the lease like the Conn's own, and the transaction holds the Conn, so the
// lease is not proven leaked while the transaction is in use. A
// transaction begun on the pool or a partition releases its lease when it
// ends; dropped without ending, it is proven leaked with the call site of
// its Begin.
type tx struct {
	inner   pgx.Tx
	c       *Conn
	parent  *tx  // the enclosing transaction of a savepoint
	release bool // release the lease when the transaction ends
	done    bool // committed or rolled back
}

// closed returns pgx.ErrTxClosed once the transaction, or one enclosing
// it, has ended, as pgx's does; its lease may have ended with it.
func (t *tx) closed() error {
	for ; t != nil; t = t.parent {
		if t.done {
			return pgx.ErrTxClosed
		}
	}
	return nil
}

func (t *tx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.closed(); err != nil {
		return nil, err
	}
	pc, err := t.c.start(ctx, "SAVEPOINT")
	if err != nil {
		return nil, err
	}
	in, err := t.inner.Begin(ctx)
	if err != nil {
		return nil, t.c.exit(pc, err)
	}
	t.c.exit(pc, nil) // nil in, nil out: the savepoint exists
	return &tx{inner: in, c: t.c, parent: t}, nil
}

func (t *tx) Commit(ctx context.Context) error { return t.end(ctx, "COMMIT", t.inner.Commit) }

func (t *tx) Rollback(ctx context.Context) error { return t.end(ctx, "ROLLBACK", t.inner.Rollback) }

// end commits or rolls back, then releases the lease of a transaction begun
// on the pool, unless the call could not be made because the lease is busy
// (rows still open), which leaves the transaction to be ended again.
func (t *tx) end(ctx context.Context, sql string, do func(context.Context) error) error {
	if err := t.closed(); err != nil {
		return err
	}
	pc, err := t.c.start(ctx, sql)
	if err == nil {
		err = t.c.exit(pc, do(ctx))
	}
	if errors.Is(err, ErrConnBusy) {
		return err
	}
	t.done = true
	if t.release {
		t.c.Release()
	}
	return err
}

func (t *tx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.closed(); err != nil {
		return 0, err
	}
	return t.c.copyFrom(ctx, t.inner, table, columns, src)
}

func (t *tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := t.closed(); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return t.c.sendBatch(ctx, t.inner, b, false)
}

// LargeObjects returns the transaction's large objects. They run on the
// transaction directly, and stop working when it ends; while they may be
// in use the lease is not proven leaked by the collector.
func (t *tx) LargeObjects() pgx.LargeObjects {
	t.c.pin()
	return t.inner.LargeObjects()
}

func (t *tx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.closed(); err != nil {
		return nil, err
	}
	pc, err := t.c.start(ctx, sql)
	if err != nil {
		return nil, err
	}
	sd, err := t.inner.Prepare(ctx, name, sql)
	return sd, t.c.exit(pc, err)
}

func (t *tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.closed(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.c.exec(ctx, t.inner, sql, args)
}

func (t *tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return t.query(ctx, sql, args, nil)
}

func (t *tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rw := new(row)
	rw.rows, _ = t.query(ctx, sql, args, &rw.own)
	return rw
}

func (t *tx) query(ctx context.Context, sql string, args []any, into *rows) (pgx.Rows, error) {
	if err := t.closed(); err != nil {
		return errRows{err}, err
	}
	return t.c.query(ctx, t.inner, sql, args, false, into)
}

// Conn returns the underlying pgx.Conn while the transaction and its lease
// last, and nil after, exposing the connection as Conn.Conn does.
func (t *tx) Conn() *pgx.Conn {
	if t.closed() != nil {
		return nil
	}
	return t.c.Conn()
}
