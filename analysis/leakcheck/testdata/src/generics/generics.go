// Cases for generic code and method values.
package generics

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// queryAll acquires and releases inside a generic function.
func queryAll[T any](ctx context.Context, p *pgxpool.Pool, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := p.Query(ctx, "select * from t")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func queryAllLeaks[T any](ctx context.Context, p *pgxpool.Pool, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := p.Query(ctx, "select * from t") // want `rows acquired here is not released on the return`
	if err != nil {
		return nil, err
	}
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
		if len(out) == 100 {
			return out, nil
		}
	}
	return out, rows.Err()
}

// closeIt releases whatever it is given.
func closeIt[C interface{ Close() error }](c C) { _ = c.Close() }

// peek uses what it is given and releases nothing.
func peek[C interface{ Err() error }](c C) error { return c.Err() }

func closedByGeneric(db *sql.DB) error {
	rows, err := db.Query("select 1")
	if err != nil {
		return err
	}
	defer closeIt(rows)
	return rows.Err()
}

func notClosedByGeneric(db *sql.DB) error {
	rows, err := db.Query("select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	return peek(rows)
}

// Repo is generic over the row type it returns.
type Repo[T any] struct{ pool *pgxpool.Pool }

func (r *Repo[T]) release(c *pgxpool.Conn) { c.Release() }

func (r *Repo[T]) ping(ctx context.Context) error {
	c, err := r.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer r.release(c)
	_, err = c.Exec(ctx, "select 1")
	return err
}

func (r *Repo[T]) pingLeaks(ctx context.Context) error {
	c, err := r.pool.Acquire(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	if _, err := c.Exec(ctx, "select 1"); err != nil {
		return err
	}
	r.release(c)
	return nil
}

// openRows acquires for its caller, whatever T.
func openRows[T any](db *sql.DB, q string) (*sql.Rows, error) {
	return db.Query(q)
}

func callsGenericOpener(db *sql.DB) error {
	rows, err := openRows[int](db, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	return rows.Err()
}

// Method values.

func methodValueDeferred(db *sql.DB) error {
	rows, err := db.Query("select 1")
	if err != nil {
		return err
	}
	closeRows := rows.Close
	defer closeRows()
	return rows.Err()
}

func methodValueLate(db *sql.DB, ok bool) error {
	rows, err := db.Query("select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	closeRows := rows.Close
	if !ok {
		return nil
	}
	defer closeRows()
	return rows.Err()
}

func methodValueNeverCalled(db *sql.DB) error {
	rows, err := db.Query("select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	closeRows := rows.Close
	_ = closeRows
	return rows.Err()
}

func methodValueToCleanup(db *sql.DB, cleanup func(func() error)) error {
	rows, err := db.Query("select 1")
	if err != nil {
		return err
	}
	cleanup(rows.Close)
	return rows.Err()
}
