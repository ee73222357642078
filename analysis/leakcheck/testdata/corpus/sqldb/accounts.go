package sqldb

import (
	"context"
	"database/sql"
	"fmt"
)

// Account is a row of the accounts table.
type Account struct {
	ID   int64
	Name string
}

// Accounts reads accounts through its own rows type.
type Accounts struct {
	db *sql.DB
}

// Rows are query results with their column names. It embeds *sql.Rows,
// whose Close it keeps.
type Rows struct {
	*sql.Rows
	Cols []string
}

// Queryx runs a query and hands its rows, with their columns, to the
// caller.
func (a *Accounts) Queryx(ctx context.Context, query string, args ...any) (*Rows, error) {
	rows, err := a.db.QueryContext(ctx, query, args...) // OK
	if err != nil {
		return nil, err
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, err
	}
	return &Rows{Rows: rows, Cols: cols}, nil
}

// Names lists every account name.
func (a *Accounts) Names(ctx context.Context) ([]string, error) {
	rows, err := a.Queryx(ctx, "select name from accounts") // OK
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

// FirstName reads one row and leaves the others open.
func (a *Accounts) FirstName(ctx context.Context) (string, error) {
	rows, err := a.Queryx(ctx, "select name from accounts order by id") // LEAK
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", sql.ErrNoRows
	}
	var s string
	err = rows.Scan(&s)
	return s, err
}

// Queryer is implemented by Accounts and by its transactional twin.
type Queryer interface {
	Queryx(ctx context.Context, query string, args ...any) (*Rows, error)
}

// Columns returns the columns of a query.
func Columns(ctx context.Context, q Queryer, query string) ([]string, error) {
	rows, err := q.Queryx(ctx, query) // OK
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Cols, nil
}

// ColumnCount returns the number of columns of a query and never
// closes its rows.
func ColumnCount(ctx context.Context, q Queryer, query string) (int, error) {
	rows, err := q.Queryx(ctx, query) // LEAK
	if err != nil {
		return 0, err
	}
	return len(rows.Cols), nil
}

// scanAccounts reads accounts; it closes the rows itself when told to,
// for callers that have nothing more to do with them.
func scanAccounts(rows *sql.Rows, closeRows bool) ([]Account, error) {
	if closeRows {
		defer rows.Close()
	}
	var out []Account
	for rows.Next() {
		var acc Account
		if err := rows.Scan(&acc.ID, &acc.Name); err != nil {
			return nil, err
		}
		out = append(out, acc)
	}
	return out, rows.Err()
}

// All lets scanAccounts close the rows.
func (a *Accounts) All(ctx context.Context) ([]Account, error) {
	rows, err := a.db.QueryContext(ctx, "select id, name from accounts") // OK
	if err != nil {
		return nil, err
	}
	return scanAccounts(rows, true)
}

// Page asks scanAccounts not to close the rows, and does not close
// them either: a failed Scan leaves them open.
func (a *Accounts) Page(ctx context.Context, after int64) ([]Account, error) {
	rows, err := a.db.QueryContext(ctx, "select id, name from accounts where id > $1 limit 100", after) // LEAK
	if err != nil {
		return nil, err
	}
	return scanAccounts(rows, false)
}

// Scanned closes the rows itself after scanAccounts.
func (a *Accounts) Scanned(ctx context.Context) ([]Account, error) {
	rows, err := a.db.QueryContext(ctx, "select id, name from accounts") // OK
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanAccounts(rows, false)
}

// countRows reads every row: the rows are closed when it succeeds and
// left open when a Scan fails.
func countRows(rows *sql.Rows) (int, error) {
	n := 0
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// Count closes the rows where countRows failed.
func (a *Accounts) Count(ctx context.Context) (int, error) {
	rows, err := a.db.QueryContext(ctx, "select id from accounts") // OK
	if err != nil {
		return 0, err
	}
	n, err := countRows(rows)
	if err != nil {
		rows.Close()
		return 0, err
	}
	return n, nil
}

// CountFast forgets the rows where countRows failed.
func (a *Accounts) CountFast(ctx context.Context) (int, error) {
	rows, err := a.db.QueryContext(ctx, "select id from accounts") // LEAK
	if err != nil {
		return 0, err
	}
	n, err := countRows(rows)
	if err != nil {
		return 0, fmt.Errorf("count accounts: %w", err)
	}
	return n, nil
}

// Locker takes a lock for the life of a connection.
type Locker interface {
	Lock(ctx context.Context, conn *sql.Conn) error
}

// session hands out a locked connection with the func that gives it
// back.
func (a *Accounts) session(ctx context.Context, l Locker) (*sql.Conn, func() error, error) {
	conn, err := a.db.Conn(ctx) // OK
	if err != nil {
		return nil, nil, err
	}
	done := func() error { return conn.Close() }
	if err := l.Lock(ctx, conn); err != nil {
		done()
		return nil, nil, err
	}
	return conn, done, nil
}

// Rename runs in a locked session and gives it back.
func (a *Accounts) Rename(ctx context.Context, l Locker, id int64, name string) (err error) {
	conn, done, err := a.session(ctx, l) // OK
	if err != nil {
		return err
	}
	defer func() {
		if cerr := done(); err == nil {
			err = cerr
		}
	}()
	_, err = conn.ExecContext(ctx, "update accounts set name = $1 where id = $2", name, id)
	return err
}

// Delete gives the session back only when the statement succeeds.
func (a *Accounts) Delete(ctx context.Context, l Locker, id int64) error {
	conn, done, err := a.session(ctx, l) // LEAK
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "delete from accounts where id = $1", id); err != nil {
		return fmt.Errorf("delete account %d: %w", id, err)
	}
	return done()
}
