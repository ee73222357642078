// Cases for database/sql.
package sqlrows

import (
	"context"
	"database/sql"
	"errors"
)

var errBad = errors.New("bad")

func nextLoop(db *sql.DB) error {
	rows, err := db.Query("select 1")
	if err != nil {
		return err
	}
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
	}
	return rows.Err()
}

func scanErrorLeaks(db *sql.DB) error {
	rows, err := db.Query("select 1") // want `rows acquired here is not released on the return at sqlrows.go:\d+`
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

func scanErrorDeferClose(db *sql.DB) error {
	rows, err := db.Query("select 1")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			return err
		}
	}
	return rows.Err()
}

func earlyReturn(ctx context.Context, db *sql.DB, ok bool) error {
	rows, err := db.QueryContext(ctx, "select 1") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	if !ok {
		return errBad
	}
	rows.Close()
	return nil
}

func notNext(tx *sql.Tx) error {
	rows, err := tx.Query("select 1")
	if err != nil {
		return err
	}
	if !rows.Next() {
		return sql.ErrNoRows
	}
	return rows.Close()
}

func stmtQuery(ctx context.Context, st *sql.Stmt) error {
	rows, err := st.QueryContext(ctx) // want `rows acquired here is not released`
	if err != nil {
		return err
	}
	_ = rows.Err()
	return nil
}

func connQuery(ctx context.Context, c *sql.Conn) error {
	rows, err := c.QueryContext(ctx, "select 1")
	if err != nil {
		return err
	}
	defer rows.Close()
	return nil
}

func queryRow(db *sql.DB) (n int, err error) {
	err = db.QueryRow("select 1").Scan(&n)
	return
}

func queryRowUnscanned(ctx context.Context, db *sql.DB, ok bool) (int, error) {
	row := db.QueryRowContext(ctx, "select 1") // want `row acquired here is not released on the return`
	if !ok {
		return 0, errBad
	}
	var n int
	return n, row.Scan(&n)
}

func begin(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Exec("update t set a = 1"); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func beginLeak(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil) // want `transaction acquired here is not released on the return at sqlrows.go:\d+`
	if err != nil {
		return err
	}
	if _, err := tx.Exec("update t set a = 1"); err != nil {
		return err
	}
	return tx.Commit()
}

func connBeginTx(ctx context.Context, c *sql.Conn) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return tx.Commit()
}

func dbConn(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.PingContext(ctx)
}

func dbConnLeak(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx) // want `connection acquired here is not released on the return`
	if err != nil {
		return err
	}
	if err := c.PingContext(ctx); err != nil {
		return err
	}
	return c.Close()
}

func prepare(db *sql.DB) error {
	st, err := db.Prepare("select 1")
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Exec()
	return err
}

func prepareLeak(ctx context.Context, db *sql.DB) error {
	st, err := db.PrepareContext(ctx, "select 1") // want `statement acquired here is not released on the return`
	if err != nil {
		return err
	}
	if _, err := st.Exec(); err != nil {
		return err
	}
	return st.Close()
}

func txPrepareIsClosedByTx(tx *sql.Tx) error {
	st, err := tx.Prepare("select 1")
	if err != nil {
		return err
	}
	_, err = st.Exec()
	return err
}

func closeRows(rows *sql.Rows) {
	if err := rows.Close(); err != nil {
		panic(err)
	}
}

func viaHelper(db *sql.DB) error {
	rows, err := db.Query("select 1")
	if err != nil {
		return err
	}
	defer closeRows(rows)
	return nil
}

type store struct{ rows *sql.Rows }

func newStore(rows *sql.Rows) *store { return &store{rows: rows} }

func keptByConstructor(db *sql.DB) (*store, error) {
	rows, err := db.Query("select 1")
	if err != nil {
		return nil, err
	}
	return newStore(rows), nil
}
