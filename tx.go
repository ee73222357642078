package poolguard

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

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
