package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
)

// Order is a row of the orders table.
type Order struct {
	ID     int64
	Status string
}

// Repo reads and writes orders.
type Repo struct {
	db *sql.DB
}

// Open lists open orders with a deferred close.
func (r *Repo) Open(ctx context.Context) ([]Order, error) {
	rows, err := r.db.QueryContext(ctx, "select id, status from orders where status = 'open'") // OK
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		var o Order
		if err := rows.Scan(&o.ID, &o.Status); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// OpenNoDefer relies on Next closing the rows, but a failed Scan does
// not close database/sql rows.
func (r *Repo) OpenNoDefer(ctx context.Context) ([]Order, error) {
	rows, err := r.db.QueryContext(ctx, "select id, status from orders") // LEAK
	if err != nil {
		return nil, err
	}
	var out []Order
	for rows.Next() {
		var o Order
		if err := rows.Scan(&o.ID, &o.Status); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Drain relies on Next closing the rows and never returns early.
func (r *Repo) Drain(ctx context.Context) (int, error) {
	rows, err := r.db.QueryContext(ctx, "select id from orders") // OK
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

// Statuses stops at the first cancelled order.
func (r *Repo) Statuses(ctx context.Context) ([]string, error) {
	rows, err := r.db.Query("select status from orders") // LEAK
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		if s == "cancelled" {
			break
		}
		out = append(out, s)
	}
	return out, nil
}

// Insert uses Query for a statement without rows and drops the rows.
func (r *Repo) Insert(ctx context.Context, o Order) error {
	_, err := r.db.QueryContext(ctx, "insert into orders values ($1, $2)", o.ID, o.Status) // LEAK
	return err
}

// Status reads one value with QueryRow.
func (r *Repo) Status(ctx context.Context, id int64) (string, error) {
	var s string
	err := r.db.QueryRowContext(ctx, "select status from orders where id = $1", id).Scan(&s) // OK
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("order %d: not found", id)
	}
	return s, err
}

// StatusChecked validates the id after QueryRow and before Scan.
func (r *Repo) StatusChecked(ctx context.Context, id int64) (string, error) {
	row := r.db.QueryRowContext(ctx, "select status from orders where id = $1", id) // LEAK
	if id < 0 {
		return "", fmt.Errorf("bad id %d", id)
	}
	var s string
	return s, row.Scan(&s)
}

// Cancel updates in a transaction.
func (r *Repo) Cancel(ctx context.Context, id int64) error {
	tx, err := r.db.BeginTx(ctx, nil) // OK
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "update orders set status = 'cancelled' where id = $1", id); err != nil {
		return err
	}
	return tx.Commit()
}

// CancelMany forgets the rollback when a row is missing.
func (r *Repo) CancelMany(ctx context.Context, ids []int64) error {
	tx, err := r.db.Begin() // LEAK
	if err != nil {
		return err
	}
	for _, id := range ids {
		res, err := tx.Exec("update orders set status = 'cancelled' where id = $1", id)
		if err != nil {
			tx.Rollback()
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("order %d: not found", id)
		}
	}
	return tx.Commit()
}

// Prepared uses a prepared statement.
func (r *Repo) Prepared(ctx context.Context, ids []int64) error {
	st, err := r.db.PrepareContext(ctx, "delete from orders where id = $1") // OK
	if err != nil {
		return err
	}
	defer st.Close()
	for _, id := range ids {
		if _, err := st.ExecContext(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// PreparedLeak closes the statement only at the end.
func (r *Repo) PreparedLeak(ctx context.Context, ids []int64) error {
	st, err := r.db.Prepare("delete from orders where id = $1") // LEAK
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := st.Exec(id); err != nil {
			return err
		}
	}
	return st.Close()
}

// InTx prepares inside a transaction: the transaction closes it.
func (r *Repo) InTx(ctx context.Context, tx *sql.Tx) error {
	st, err := tx.PrepareContext(ctx, "delete from orders where id = $1") // OK
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, 1)
	return err
}

// Pin takes a dedicated connection.
func (r *Repo) Pin(ctx context.Context) error {
	conn, err := r.db.Conn(ctx) // OK
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "set search_path = app")
	return err
}

// PinLeak keeps the dedicated connection when the setup fails.
func (r *Repo) PinLeak(ctx context.Context) (*sql.Conn, error) {
	conn, err := r.db.Conn(ctx) // LEAK
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "set search_path = app"); err != nil {
		return nil, err
	}
	return conn, nil
}

// PinQuery queries on a dedicated connection.
func (r *Repo) PinQuery(ctx context.Context, conn *sql.Conn) (int, error) {
	rows, err := conn.QueryContext(ctx, "select 1") // OK
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, nil
}

// Each calls f for each id with a statement query.
func (r *Repo) Each(ctx context.Context, st *sql.Stmt, f func(int64) error) error {
	rows, err := st.QueryContext(ctx) // LEAK
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		if err := f(id); err != nil {
			return err
		}
	}
	return rows.Err()
}

func closeQuietly(rows *sql.Rows) {
	if err := rows.Close(); err != nil {
		log.Print(err)
	}
}

// Helper closes through a helper.
func (r *Repo) Helper(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, "select 1") // OK
	if err != nil {
		return err
	}
	defer closeQuietly(rows)
	return nil
}

// Iterator wraps rows in a type that closes them.
type Iterator struct {
	rows *sql.Rows
}

// Close closes the rows.
func (it *Iterator) Close() error { return it.rows.Close() }

// Iter returns an iterator that owns the rows.
func (r *Repo) Iter(ctx context.Context) (*Iterator, error) {
	rows, err := r.db.QueryContext(ctx, "select id from orders") // OK
	if err != nil {
		return nil, err
	}
	return &Iterator{rows: rows}, nil
}

// Multi reads two result sets; closes once done.
func (r *Repo) Multi(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, "select 1; select 2") // OK
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.NextResultSet() {
		for rows.Next() {
		}
	}
	return rows.Err()
}

// Nullable closes when the rows are not nil.
func (r *Repo) Nullable(ctx context.Context) error {
	rows, err := r.db.QueryContext(ctx, "select 1") // OK
	defer func() {
		if rows != nil {
			rows.Close()
		}
	}()
	return err
}
