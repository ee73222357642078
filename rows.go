package poolguard

import (
	"github.com/jackc/pgx/v5"
)

// rows frees the connection when the result is closed or read to the end.
type rows struct {
	pgx.Rows
	c       *Conn
	pc      *pconn
	release bool // release the lease too (Pool.Query)
	done    bool
	err     error // the final error, once done
}

func (r *rows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

// Scan scans the current row. pgx closes the rows when Scan fails.
func (r *rows) Scan(dest ...any) error {
	err := r.Rows.Scan(dest...)
	if err != nil {
		r.finish()
	}
	return err
}

func (r *rows) Close() {
	r.Rows.Close()
	r.finish()
}

func (r *rows) finish() {
	if r.done {
		return
	}
	r.done = true
	r.err = r.c.exit(r.pc, r.Rows.Err())
	if r.release {
		r.c.Release()
	}
}

// Err returns the rows' error, matching ErrLeaseRevoked if the lease was
// revoked while they were read.
func (r *rows) Err() error {
	if r.done {
		return r.err
	}
	return r.Rows.Err()
}

// row is the result of QueryRow, with pgx's semantics.
type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	rs := r.rows
	defer rs.Close()
	if !rs.Next() {
		if err := rs.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := rs.Scan(dest...); err != nil {
		return err
	}
	rs.Close()
	return rs.Err()
}
