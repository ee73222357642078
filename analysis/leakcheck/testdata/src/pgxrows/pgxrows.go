// Cases for pgx rows, rows of one row, transactions and batches.
package pgxrows

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

var errBad = errors.New("bad")

func nextLoop(ctx context.Context, c *pgx.Conn) error {
	rows, err := c.Query(ctx, "select 1")
	if err != nil {
		return err
	}
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
	}
	return rows.Err()
}

func nextLoopReturnInside(ctx context.Context, c *pgx.Conn) (int, error) {
	rows, err := c.Query(ctx, "select 1") // want `rows acquired here is not released on the return at pgxrows.go:\d+`
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
		if n > 10 {
			return n, nil
		}
	}
	return 0, rows.Err()
}

func nextLoopBreak(ctx context.Context, c *pgxpool.Pool) error {
	rows, err := c.Query(ctx, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	for rows.Next() {
		break
	}
	return nil
}

func notNext(ctx context.Context, c *pgx.Conn) error {
	rows, err := c.Query(ctx, "select 1")
	if err != nil {
		return err
	}
	if !rows.Next() {
		return errBad
	}
	rows.Close()
	return nil
}

func nextTrueLeaks(ctx context.Context, c *pgx.Conn) (int, error) {
	rows, err := c.Query(ctx, "select 1") // want `rows acquired here is not released on the return at pgxrows.go:\d+`
	if err != nil {
		return 0, err
	}
	if rows.Next() {
		var n int
		err := rows.Scan(&n)
		return n, err
	}
	return 0, rows.Err()
}

func scanErrorCloses(ctx context.Context, c *pgx.Conn) error {
	rows, err := c.Query(ctx, "select 1")
	if err != nil {
		return err
	}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanErrorClosesAssign(ctx context.Context, c *pgx.Conn) error {
	rows, err := c.Query(ctx, "select 1")
	if err != nil {
		return err
	}
	for rows.Next() {
		var n int
		err = rows.Scan(&n)
		if err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanDirect(ctx context.Context, c *pgx.Conn) error {
	rows, err := c.Query(ctx, "select 1")
	if err != nil {
		return err
	}
	for rows.Next() {
		var n int
		if rows.Scan(&n) != nil {
			return errBad
		}
	}
	return nil
}

func scanOKThenReturn(ctx context.Context, c *pgx.Conn) error {
	rows, err := c.Query(ctx, "select 1") // want `rows acquired here is not released on the return at pgxrows.go:\d+`
	if err != nil {
		return err
	}
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err == nil && n < 0 {
			return errBad
		}
	}
	return nil
}

func collectRows(ctx context.Context, c *pgx.Conn) ([]int, error) {
	rows, _ := c.Query(ctx, "select 1")
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

func collectOneRow(ctx context.Context, c *pgxpool.Conn) (int, error) {
	rows, err := c.Query(ctx, "select 1")
	if err != nil {
		return 0, err
	}
	return pgx.CollectOneRow(rows, pgx.RowTo[int])
}

func collectExactlyOne(ctx context.Context, p *poolguard.Pool) (int, error) {
	rows, _ := p.Query(ctx, "select 1")
	n, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[int])
	return n, err
}

func appendRows(ctx context.Context, c *pgx.Conn, dst []int) ([]int, error) {
	rows, _ := c.Query(ctx, "select 1")
	return pgx.AppendRows(dst, rows, pgx.RowTo[int])
}

func forEachRow(ctx context.Context, c *pgx.Conn) error {
	rows, _ := c.Query(ctx, "select 1")
	var n int
	_, err := pgx.ForEachRow(rows, []any{&n}, func() error { return nil })
	return err
}

func collectAfterEarlyReturn(ctx context.Context, c *pgx.Conn, ok bool) ([]int, error) {
	rows, err := c.Query(ctx, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errBad
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

func rowsNeverRead(ctx context.Context, c *poolguard.Conn) error {
	rows, err := c.Query(ctx, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	_ = rows.Err()
	return nil
}

func partitionQuery(ctx context.Context, p *poolguard.Partition) error {
	rows, err := p.Query(ctx, "select 1")
	if err != nil {
		return err
	}
	defer rows.Close()
	return nil
}

func txQuery(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, "select 1") // want `rows acquired here is not released`
	if err != nil {
		return err
	}
	_ = rows
	return nil
}

func queryRowScan(ctx context.Context, c *pgx.Conn) (int, error) {
	var n int
	err := c.QueryRow(ctx, "select 1").Scan(&n)
	return n, err
}

func queryRowLater(ctx context.Context, c *pgxpool.Pool) (int, error) {
	row := c.QueryRow(ctx, "select 1")
	var n int
	err := row.Scan(&n)
	return n, err
}

func queryRowNotScanned(ctx context.Context, c *pgxpool.Pool, ok bool) (int, error) {
	row := c.QueryRow(ctx, "select 1") // want `row acquired here is not released on the return`
	if !ok {
		return 0, errBad
	}
	var n int
	err := row.Scan(&n)
	return n, err
}

func queryRowDiscarded(ctx context.Context, tx pgx.Tx) {
	tx.QueryRow(ctx, "select 1") // want `row acquired here is discarded`
}

func txCommitRollback(ctx context.Context, c *pgx.Conn) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "update t set a = 1"); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

func txDeferRollback(ctx context.Context, p *pgxpool.Pool) error {
	tx, err := p.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "update t set a = 1"); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func txForgetsRollback(ctx context.Context, c *poolguard.Conn) error {
	tx, err := c.Begin(ctx) // want `transaction acquired here is not released on the return at pgxrows.go:\d+`
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "update t set a = 1"); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func txBeginTx(ctx context.Context, c *pgxpool.Conn) error {
	tx, err := c.BeginTx(ctx, pgx.TxOptions{}) // want `transaction acquired here is not released`
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "select 1")
	return err
}

func nestedTx(ctx context.Context, tx pgx.Tx) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	defer sp.Rollback(ctx)
	return sp.Commit(ctx)
}

func batch(ctx context.Context, c *poolguard.Conn, b *pgx.Batch) error {
	br := c.SendBatch(ctx, b)
	defer br.Close()
	_, err := br.Exec()
	return err
}

func batchLeak(ctx context.Context, c *pgx.Conn, b *pgx.Batch) error {
	br := c.SendBatch(ctx, b) // want `batch results acquired here is not released on the return`
	if _, err := br.Exec(); err != nil {
		return err
	}
	return br.Close()
}

func batchInline(ctx context.Context, p *pgxpool.Pool, b *pgx.Batch) error {
	return p.SendBatch(ctx, b).Close()
}

func acquireThenQuery(ctx context.Context, p *pgxpool.Pool) ([]int, error) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, "select 1")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}

func withTx(ctx context.Context, p *poolguard.Pool) error {
	return p.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "select 1")
		return err
	})
}

func readAll(rows pgx.Rows) ([]int, error) {
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func scanOne(rows pgx.Rows) (int, error) {
	var n int
	err := rows.Scan(&n)
	return n, err
}

func viaReadAll(ctx context.Context, c *pgx.Conn) ([]int, error) {
	rows, err := c.Query(ctx, "select 1")
	if err != nil {
		return nil, err
	}
	return readAll(rows)
}

func viaScanOne(ctx context.Context, c *pgx.Conn) (int, error) {
	rows, err := c.Query(ctx, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return 0, err
	}
	return scanOne(rows)
}

func savepointEndedByParent(ctx context.Context, c *pgx.Conn) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	_, _ = sp.Exec(ctx, "select 1")
	return tx.Rollback(ctx)
}

func savepointLeaksOnReturn(ctx context.Context, tx pgx.Tx, ok bool) error {
	sp, err := tx.Begin(ctx) // want `transaction acquired here is not released on the return`
	if err != nil {
		return err
	}
	if !ok {
		return errBad
	}
	return sp.Commit(ctx)
}
