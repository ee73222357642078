// Cases for helpers that release on some paths only.
package summaries

import "database/sql"

// scanAll closes the rows when asked to, and returns early on a failed
// Scan, which does not close database/sql rows.
func scanAll(rows *sql.Rows, closeRows bool) ([]int, error) {
	if closeRows {
		defer rows.Close()
	}
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

func scanClosing(db *sql.DB) ([]int, error) {
	rows, err := db.Query("select n from t")
	if err != nil {
		return nil, err
	}
	return scanAll(rows, true)
}

func scanNotClosing(db *sql.DB) ([]int, error) {
	rows, err := db.Query("select n from t") // want `rows acquired here is not released on the return`
	if err != nil {
		return nil, err
	}
	return scanAll(rows, false)
}

func scanThenClose(db *sql.DB) ([]int, error) {
	rows, err := db.Query("select n from t")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanAll(rows, false)
}

// drain closes the rows only when every Scan succeeds.
func drain(rows *sql.Rows) error {
	for rows.Next() {
		if err := rows.Scan(); err != nil {
			return err
		}
	}
	return rows.Close()
}

func drainAndClose(db *sql.DB) error {
	rows, err := db.Query("select n from t")
	if err != nil {
		return err
	}
	if err := drain(rows); err != nil {
		rows.Close()
		return err
	}
	return nil
}

func drainOnly(db *sql.DB) error {
	rows, err := db.Query("select n from t") // want `rows acquired here is not released on the return`
	if err != nil {
		return err
	}
	if err := drain(rows); err != nil {
		return err
	}
	return nil
}

// process closes the rows when closeRows is set, and hands them to a
// scanner that keeps them when many is not.
func process(rows *sql.Rows, many, closeRows bool) error {
	if closeRows {
		defer rows.Close()
	}
	if many {
		if err := rows.Err(); err != nil {
			return err
		}
	}
	s := &scanner{rows: rows}
	return s.next()
}

type scanner struct{ rows *sql.Rows }

func (s *scanner) next() error { return nil }

func processAll(db *sql.DB) error {
	rows, err := db.Query("select n from t")
	if err != nil {
		return err
	}
	return process(rows, true, true)
}
