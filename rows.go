package poolguard

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// rows are the rows of a query on a lease. They hold the Conn, so the lease
// is not proven leaked while they are in use; reading them to the end or
// closing them ends the call (and, for a query made on the pool or a
// partition, releases the lease).
type rows struct {
	pgx.Rows
	c       *Conn
	pc      *pconn // nil for a batch's rows, whose call the batch holds
	release bool   // release the lease too (a query on the pool)
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
	r.err = r.Rows.Err()
	if r.pc == nil {
		return
	}
	r.pc.rowsOpen.Store(false)
	r.err = r.c.exit(r.pc, r.err)
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

// Conn returns nil, as pgx's contract allows for rows that did not come
// straight from a pgx.Conn: the rows' connection belongs to the pool, and
// may belong to another lease once they are closed. TypeMap gives what
// callers of Conn usually want.
func (r *rows) Conn() *pgx.Conn { return nil }

// errRows are the rows of a query that failed before it ran, as pgxpool's:
// every method reports the error, so the rows may be handed to
// pgx.CollectRows and its kind unchecked.
type errRows struct{ err error }

func (errRows) Close()                                       {}
func (e errRows) Err() error                                 { return e.err }
func (errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (errRows) Next() bool                                   { return false }
func (e errRows) Scan(...any) error                          { return e.err }
func (e errRows) Values() ([]any, error)                     { return nil, e.err }
func (errRows) RawValues() [][]byte                          { return nil }
func (errRows) Conn() *pgx.Conn                              { return nil }
func (errRows) TypeMap() *pgtype.Map                         { return nil }

// row is the result of QueryRow, with pgx's semantics.
type row struct {
	rows pgx.Rows
	own  rows // the rows, when they are poolguard's: one allocation for both
}

func (r *row) Scan(dest ...any) error {
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
