package pgxq

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

// Transfer moves money with an explicit rollback on every error.
func Transfer(ctx context.Context, p *pgxpool.Pool, from, to int64, amount int) error {
	tx, err := p.Begin(ctx) // OK
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "update accounts set balance = balance - $1 where id = $2", amount, from); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if _, err := tx.Exec(ctx, "update accounts set balance = balance + $1 where id = $2", amount, to); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// TransferSloppy forgets the rollback on the second statement.
func TransferSloppy(ctx context.Context, p *pgxpool.Pool, from, to int64, amount int) error {
	tx, err := p.Begin(ctx) // LEAK
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "update accounts set balance = balance - $1 where id = $2", amount, from); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if _, err := tx.Exec(ctx, "update accounts set balance = balance + $1 where id = $2", amount, to); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Deferred rolls back by defer; the rollback after commit is a no-op.
func Deferred(ctx context.Context, c *poolguard.Conn) error {
	tx, err := c.Begin(ctx) // OK
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "delete from sessions where expired"); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Audit checks the row count and returns without ending the tx.
func Audit(ctx context.Context, c *pgx.Conn) error {
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable}) // LEAK
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "update audit set seen = true")
	if err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("nothing to audit")
	}
	return tx.Commit(ctx)
}

// Savepoint nests a transaction.
func Savepoint(ctx context.Context, tx pgx.Tx) error {
	sp, err := tx.Begin(ctx) // OK
	if err != nil {
		return err
	}
	if _, err := sp.Exec(ctx, "insert into log values (1)"); err != nil {
		return sp.Rollback(ctx)
	}
	return sp.Commit(ctx)
}

// finishTx commits or rolls back depending on err.
func finishTx(ctx context.Context, tx pgx.Tx, err error) error {
	if err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// ViaFinish ends the transaction through a helper.
func ViaFinish(ctx context.Context, p *pgxpool.Pool) error {
	tx, err := p.Begin(ctx) // OK
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "update t set a = 1")
	return finishTx(ctx, tx, err)
}

// Begin returns a transaction to the caller.
func Begin(ctx context.Context, p *pgxpool.Pool) (pgx.Tx, error) {
	tx, err := p.Begin(ctx) // OK
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return tx, nil
}

// WithTx runs f in a transaction owned by poolguard.
func WithTx(ctx context.Context, pg *poolguard.Pool) error {
	return pg.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "update t set a = 2")
		return err
	})
}

// Queries reads inside a transaction and leaks the rows on error.
func Queries(ctx context.Context, p *pgxpool.Pool) (int, error) {
	tx, err := p.Begin(ctx) // OK
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, "select n from counters") // LEAK
	if err != nil {
		return 0, err
	}
	total := 0
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
		if n < 0 {
			return 0, fmt.Errorf("negative counter")
		}
		total += n
	}
	return total, tx.Commit(ctx)
}

// Batch sends a batch and closes the results.
func Batch(ctx context.Context, c *poolguard.Conn, ids []int64) error {
	b := &pgx.Batch{}
	for _, id := range ids {
		b.Queue("delete from users where id = $1", id)
	}
	br := c.SendBatch(ctx, b) // OK
	defer br.Close()
	for range ids {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return nil
}

// BatchEarly returns on the first failed statement without closing.
func BatchEarly(ctx context.Context, p *pgxpool.Pool, ids []int64) error {
	b := &pgx.Batch{}
	for _, id := range ids {
		b.Queue("delete from users where id = $1", id)
	}
	br := p.SendBatch(ctx, b) // LEAK
	for range ids {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	return br.Close()
}

// BatchInline closes the results in the same expression.
func BatchInline(ctx context.Context, tx pgx.Tx) error {
	b := &pgx.Batch{}
	b.Queue("select 1")
	return tx.SendBatch(ctx, b).Close() // OK
}

// BatchRow reads one row from a batch and closes.
func BatchRow(ctx context.Context, c *pgxpool.Conn) (int, error) {
	b := &pgx.Batch{}
	b.Queue("select 1")
	br := c.SendBatch(ctx, b) // OK
	var n int
	err := br.QueryRow().Scan(&n)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return n, err
}
