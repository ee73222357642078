package pgxq

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DBTX is the interface the generated queries run on: a pool, a
// connection or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Author is a row of the authors table.
type Author struct {
	ID   int64
	Name string
}

// AuthorQueries holds the generated queries.
type AuthorQueries struct {
	db DBTX
}

// NewQueries returns the queries on db.
func NewQueries(db DBTX) *AuthorQueries { return &AuthorQueries{db: db} }

const listAuthors = `select id, name from authors order by name`

// ListAuthors is generated: it closes the rows on every path.
func (q *AuthorQueries) ListAuthors(ctx context.Context) ([]Author, error) {
	rows, err := q.db.Query(ctx, listAuthors) // OK
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []Author
	for rows.Next() {
		var i Author
		if err := rows.Scan(&i.ID, &i.Name); err != nil {
			return nil, err
		}
		items = append(items, i)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

// AuthorNames was written by hand next to the generated code; it gives
// up on the first empty name and leaves the rows open.
func (q *AuthorQueries) AuthorNames(ctx context.Context) ([]string, error) {
	rows, err := q.db.Query(ctx, `select name from authors`) // LEAK
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if s == "" {
			return names, errors.New("author without a name")
		}
		names = append(names, s)
	}
	return names, rows.Err()
}

// GetAuthor is generated: the row is scanned at once.
func (q *AuthorQueries) GetAuthor(ctx context.Context, id int64) (Author, error) {
	row := q.db.QueryRow(ctx, `select id, name from authors where id = $1`, id) // OK
	var i Author
	err := row.Scan(&i.ID, &i.Name)
	return i, err
}

// AuthorExists returns before scanning when the name is empty; the
// pooled connection stays busy until the row is scanned.
func (q *AuthorQueries) AuthorExists(ctx context.Context, name string) (bool, error) {
	row := q.db.QueryRow(ctx, `select exists(select 1 from authors where name = $1)`, name) // LEAK
	if name == "" {
		return false, nil
	}
	var ok bool
	err := row.Scan(&ok)
	return ok, err
}

// TxBeginner is what the job queue needs from a database handle.
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

const insertJob = `insert into jobs (kind, args) values ($1, $2)`

// Enqueue inserts one job in its own transaction.
func Enqueue(ctx context.Context, db TxBeginner, kind string, args []byte) error {
	tx, err := db.Begin(ctx) // OK
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, insertJob, kind, args); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// EnqueueMany inserts a batch of jobs and returns on the first failed
// insert with the transaction still open.
func EnqueueMany(ctx context.Context, db TxBeginner, kind string, batch [][]byte) error {
	tx, err := db.Begin(ctx) // LEAK
	if err != nil {
		return err
	}
	for _, args := range batch {
		if _, err := tx.Exec(ctx, insertJob, kind, args); err != nil {
			return fmt.Errorf("enqueue %s: %w", kind, err)
		}
	}
	return tx.Commit(ctx)
}

// JobContext is what a worker is given: the job's own transaction,
// which the queue ends.
type JobContext interface {
	ID() int64
	Tx() pgx.Tx
}

// Complete marks the job done in the job's transaction.
func Complete(ctx context.Context, jc JobContext) error {
	tx := jc.Tx() // OK
	_, err := tx.Exec(ctx, `update jobs set state = 'done' where id = $1`, jc.ID())
	return err
}

// Querier is anything that runs a query.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Collect runs a query on any querier and scans every row.
func Collect[T any, Q Querier](ctx context.Context, q Q, sql string, scan func(pgx.Rows) (T, error)) ([]T, error) {
	rows, err := q.Query(ctx, sql) // OK
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

// FirstOf returns the first value of a query and leaves the rest of
// the rows, and the connection, behind.
func FirstOf[T any](ctx context.Context, pool *pgxpool.Pool, sql string) (T, error) {
	var zero T
	rows, err := pool.Query(ctx, sql) // LEAK
	if err != nil {
		return zero, err
	}
	if !rows.Next() {
		return zero, rows.Err()
	}
	var v T
	if err := rows.Scan(&v); err != nil {
		return zero, err
	}
	return v, nil
}

// OnlyOf returns the first value of a query and closes the rows.
func OnlyOf[T any](ctx context.Context, pool *pgxpool.Pool, sql string) (T, error) {
	var zero T
	rows, err := pool.Query(ctx, sql) // OK
	if err != nil {
		return zero, err
	}
	defer rows.Close()
	if !rows.Next() {
		return zero, rows.Err()
	}
	var v T
	if err := rows.Scan(&v); err != nil {
		return zero, err
	}
	return v, nil
}
