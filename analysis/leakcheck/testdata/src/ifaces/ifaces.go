// Cases for resources acquired through interface methods and wrappers.
package ifaces

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jmoiron/sqlx"
)

// DBTX is the interface sqlc generates for its queries.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgx.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type Queries struct{ db DBTX }

func (q *Queries) listLeaks(ctx context.Context, ok bool) ([]string, error) {
	rows, err := q.db.Query(ctx, "select name from users") // want `rows acquired here is not released on the return`
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		names = append(names, s)
	}
	return names, rows.Err()
}

func (q *Queries) list(ctx context.Context) ([]string, error) {
	rows, err := q.db.Query(ctx, "select name from users")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		names = append(names, s)
	}
	return names, rows.Err()
}

func (q *Queries) rowNotScanned(ctx context.Context) {
	row := q.db.QueryRow(ctx, "select 1") // want `row acquired here is not released at the end of the function`
	_ = row
}

func (q *Queries) rowScanned(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRow(ctx, "select 1").Scan(&n)
	return n, err
}

// Beginner is the shape of a job queue's transaction source.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

func insert(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "insert into jobs default values")
	return err
}

func enqueueLeaks(ctx context.Context, b Beginner) error {
	tx, err := b.Begin(ctx) // want `transaction acquired here is not released on the return`
	if err != nil {
		return err
	}
	if err := insert(ctx, tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func enqueue(ctx context.Context, b Beginner, job func(pgx.Tx) error) error {
	tx, err := b.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := job(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Lender hands out what it holds: getters acquire nothing.
type Lender interface {
	Conn() *pgxpool.Conn
	Tx() pgx.Tx
	File() *os.File
	Unwrap(tx pgx.Tx) pgx.Tx
}

func getters(l Lender) error {
	c := l.Conn()
	tx := l.Tx()
	f := l.File()
	inner := l.Unwrap(tx)
	_, _, _, _ = c, tx, f, inner
	return nil
}

// Doer is the usual interface over *http.Client.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

func fetchLeaks(d Doer, req *http.Request) (int, error) {
	resp, err := d.Do(req) // want `response body acquired here is not released on the return`
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func fetch(d Doer, req *http.Request) (int, error) {
	resp, err := d.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// sqlx wraps database/sql: its Rows and Tx embed the originals.

func sqlxLeaks(db *sqlx.DB, ok bool) error {
	rows, err := db.Queryx("select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	return rows.Close()
}

func sqlxCloses(db *sqlx.DB) error {
	rows, err := db.Queryx("select 1")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v struct{}
		if err := rows.StructScan(&v); err != nil {
			return err
		}
	}
	return rows.Err()
}

func sqlxQueryerLeaks(q sqlx.Queryer) error {
	rows, err := q.Queryx("select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	_ = rows
	return nil
}

func sqlxTxLeaks(db *sqlx.DB) error {
	tx := db.MustBegin() // want `transaction acquired here is not released on the return`
	if _, err := tx.Exec("delete from t"); err != nil {
		return err
	}
	return tx.Commit()
}

func sqlxTx(db *sqlx.DB) error {
	tx, err := db.Beginx()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec("delete from t"); err != nil {
		return err
	}
	return tx.Commit()
}

func sqlxBorrowed(ctx context.Context) error {
	tx, err := sqlx.TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec("delete from t")
	return err
}

// Wrappers of this package: openRows acquires for its caller;
// cachedRows and testRows do not.

func openRows(db *sql.DB, q string) (*sql.Rows, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func wrapperLeaks(db *sql.DB) error {
	rows, err := openRows(db, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	_ = rows.Err()
	return nil
}

func wrapperCloses(db *sql.DB) error {
	rows, err := openRows(db, "select 1")
	if err != nil {
		return err
	}
	return rows.Close()
}

type cache struct{ rows *sql.Rows }

func (c *cache) cachedRows(db *sql.DB) (*sql.Rows, error) {
	if c.rows != nil {
		return c.rows, nil
	}
	rows, err := db.Query("select 1")
	if err != nil {
		return nil, err
	}
	c.rows = rows
	return rows, nil
}

func cached(c *cache, db *sql.DB) error {
	rows, err := c.cachedRows(db)
	if err != nil {
		return err
	}
	return rows.Err()
}

type cleaner interface{ Cleanup(func()) }

func testRows(t cleaner, db *sql.DB) *sql.Rows {
	rows, err := db.Query("select 1")
	if err != nil {
		panic(err)
	}
	t.Cleanup(func() { rows.Close() })
	return rows
}

func usesTestRows(t cleaner, db *sql.DB) error {
	rows := testRows(t, db)
	return rows.Err()
}

// A type parameter's methods are interface methods too.

func genericLeaks[DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}](ctx context.Context, db DB) error {
	rows, err := db.Query(ctx, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	_ = rows
	return nil
}

func generic[DB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}](ctx context.Context, db DB) error {
	rows, err := db.Query(ctx, "select 1")
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// lockedRows unlocks its executor when closed; it embeds the rows.
type lockedRows struct {
	unlock func()
	pgx.Rows
}

type lockedExec struct{ inner DBTX }

func (e *lockedExec) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) { // want Query:"acquires\\(rows\\)"
	rows, err := e.inner.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return &lockedRows{func() {}, rows}, nil
}

func lockedLeaks(ctx context.Context, e *lockedExec) error {
	rows, err := e.Query(ctx, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	return rows.Err()
}

// A connection handed out with the func that gives it back.

type locker interface {
	Lock(ctx context.Context, c *sql.Conn) error
}

type provider struct {
	db *sql.DB
	l  locker
}

func (p *provider) session(ctx context.Context) (*sql.Conn, func() error, error) {
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() error { return conn.Close() }
	if err := p.l.Lock(ctx, conn); err != nil {
		return nil, nil, errors.Join(err, cleanup())
	}
	return conn, cleanup, nil
}

func (p *provider) migrate(ctx context.Context) (err error) {
	conn, cleanup, err := p.session(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cleanup()) }()
	_, err = conn.ExecContext(ctx, "select 1")
	return err
}

func (p *provider) migrateLeaks(ctx context.Context) error {
	conn, cleanup, err := p.session(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "select 1"); err != nil {
		return err
	}
	return cleanup()
}
