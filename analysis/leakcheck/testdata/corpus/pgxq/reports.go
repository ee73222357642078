package pgxq

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/poolguard/poolguard"
)

// Report is one line of a sales report.
type Report struct {
	Region string
	Total  int64
}

// Reports builds reports from the database.
type Reports struct {
	pool *pgxpool.Pool
	pg   *poolguard.Pool
}

// ByRegion reads totals per region inside a read-only transaction.
func (r *Reports) ByRegion(ctx context.Context) ([]Report, error) {
	tx, err := r.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}) // OK
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, "select region, sum(total) from sales group by region") // OK
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Report])
}

// Top returns the top region, stopping after the first row.
func (r *Reports) Top(ctx context.Context) (Report, error) {
	rows, err := r.pg.Query(ctx, "select region, sum(total) as t from sales group by region order by t desc") // LEAK
	if err != nil {
		return Report{}, err
	}
	for rows.Next() {
		var rep Report
		if err := rows.Scan(&rep.Region, &rep.Total); err != nil {
			return Report{}, err
		}
		return rep, nil
	}
	return Report{}, rows.Err()
}

// Regions reads region names through a connection borrowed for the call.
func (r *Reports) Regions(ctx context.Context) ([]string, error) {
	conn, err := r.pg.Acquire(ctx) // OK
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, "select distinct region from sales") // OK
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Refresh refreshes materialized views in one batch.
func (r *Reports) Refresh(ctx context.Context, views []string) error {
	conn, err := r.pg.Acquire(ctx) // OK
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	for _, v := range views {
		b.Queue("refresh materialized view " + v)
	}
	br := conn.SendBatch(ctx, b) // LEAK
	for _, v := range views {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("refresh %s: %w", v, err)
		}
	}
	return br.Close()
}

// Snapshot begins a transaction on an acquired connection and hands both
// back through a closer.
func (r *Reports) Snapshot(ctx context.Context) (pgx.Tx, func(), error) {
	conn, err := r.pg.Acquire(ctx) // OK
	if err != nil {
		return nil, nil, err
	}
	tx, err := conn.Begin(ctx) // OK
	if err != nil {
		conn.Release()
		return nil, nil, err
	}
	return tx, func() {
		_ = tx.Rollback(ctx)
		conn.Release()
	}, nil
}

// Sum sums a column and returns early on a negative value.
func (r *Reports) Sum(ctx context.Context) (int64, error) {
	rows, err := r.pool.Query(ctx, "select total from sales") // LEAK
	if err != nil {
		return 0, err
	}
	var sum int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		if v < 0 {
			return 0, fmt.Errorf("negative total %d", v)
		}
		sum += v
	}
	return sum, rows.Err()
}

// Exists checks a region with QueryRow and never scans when the name is
// empty.
func (r *Reports) Exists(ctx context.Context, region string) (bool, error) {
	row := r.pool.QueryRow(ctx, "select exists(select 1 from sales where region = $1)", region) // LEAK
	if region == "" {
		return false, nil
	}
	var ok bool
	err := row.Scan(&ok)
	return ok, err
}
