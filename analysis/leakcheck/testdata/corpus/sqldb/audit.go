package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Entry is one audit log entry.
type Entry struct {
	At     time.Time
	Action string
}

// Audit writes and reads the audit log.
type Audit struct {
	db *sql.DB
}

// Since reads entries newer than t.
func (a *Audit) Since(ctx context.Context, t time.Time) ([]Entry, error) {
	rows, err := a.db.QueryContext(ctx, "select at, action from audit where at > $1", t) // OK
	if err != nil {
		return nil, fmt.Errorf("since: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.At, &e.Action); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Latest returns the newest entry only.
func (a *Audit) Latest(ctx context.Context) (Entry, error) {
	rows, err := a.db.QueryContext(ctx, "select at, action from audit order by at desc") // LEAK
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	for rows.Next() {
		err = rows.Scan(&e.At, &e.Action)
		return e, err
	}
	return e, sql.ErrNoRows
}

// Record inserts entries in a transaction.
func (a *Audit) Record(ctx context.Context, entries []Entry) (err error) {
	tx, err := a.db.BeginTx(ctx, &sql.TxOptions{}) // OK
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			return
		}
		err = tx.Commit()
	}()
	st, err := tx.PrepareContext(ctx, "insert into audit values ($1, $2)") // OK
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err = st.ExecContext(ctx, e.At, e.Action); err != nil {
			return err
		}
	}
	return nil
}

// Purge deletes with a prepared statement on the database.
func (a *Audit) Purge(ctx context.Context, before time.Time) (int64, error) {
	st, err := a.db.PrepareContext(ctx, "delete from audit where at < $1") // OK
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, before)
	st.Close()
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Count uses QueryRow and checks ErrNoRows.
func (a *Audit) Count(ctx context.Context) (int, error) {
	var n int
	row := a.db.QueryRowContext(ctx, "select count(*) from audit") // OK
	if err := row.Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}

// Actions collects distinct actions but returns on an empty one.
func (a *Audit) Actions(ctx context.Context) ([]string, error) {
	rows, err := a.db.Query("select distinct action from audit") // LEAK
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		if s == "" {
			return nil, fmt.Errorf("empty action")
		}
		out = append(out, s)
	}
	return out, rows.Close()
}

// Session runs statements on one dedicated connection.
func (a *Audit) Session(ctx context.Context, stmts []string) error {
	conn, err := a.db.Conn(ctx) // OK
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// SessionTx begins on a dedicated connection and leaks the transaction
// when a statement fails.
func (a *Audit) SessionTx(ctx context.Context, conn *sql.Conn, stmts []string) error {
	tx, err := conn.BeginTx(ctx, nil) // LEAK
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}
