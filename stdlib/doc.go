// Package stdlib opens a database/sql *sql.DB on a poolguard partition, as
// pgx's stdlib.OpenDBFromPool does on a pgxpool, so that what is built on
// database/sql (migration tools, sqlx, generated code) runs on the same
// pool: under the same partition's Max and the pool's MaxConns, counted in
// the same statistics and metrics, and watched for leaks the same way.
//
//	db := stdlib.OpenDB(pool.Partition("migrations"))
//	defer db.Close() // closes the DB, not the pool
//
// Every connection database/sql opens is a lease of the partition,
// acquired when database/sql asks for a connection and released when it
// closes it. The DB keeps no idle connection of its own (its maximum idle
// connections is zero), so a call holds a lease only while it runs, or
// while its rows, transaction or sql.Conn are open. The partition's Max is
// the limit; the DB's SetMaxOpenConns is redundant with it.
//
// A lease taken through database/sql records the frames past
// database/sql's own and this package's, so its call site, in leak
// reports, Leases and the AcquireError of an exhausted partition, is the
// line that called database/sql.
//
// Every call of the driver goes through the lease (*poolguard.Conn), so it
// is checked against it: after the pool revokes the lease (MaxHold,
// Pool.Revoke, Close), the next call fails with an error matching
// poolguard.ErrLeaseRevoked, and database/sql discards the connection.
//
// # Values
//
// Values reach database/sql as they do from pgx's own driver: int64,
// float64, bool, []byte (bytea, json, jsonb, xml), time.Time (date,
// timestamp, timestamptz; "infinity" and "-infinity" as strings), and the
// text of every other type (numeric, uuid, interval, arrays, ...), which
// pgtype's types and sql.Scanner implementations read. Arguments are
// passed to pgx as they are, so pgx encodes driver.Valuer and its own
// types.
//
// # Leaked rows
//
// An sql.Rows that is never closed keeps its lease busy, with the rows
// open. database/sql keeps a reference to every connection it has open,
// so while the DB is open the lease cannot become unreachable and the
// garbage collector cannot prove the leak. The lease shows in Pool.Leases
// as active, with the caller's call site; it is revoked at the partition's
// MaxHold, and revoked and reported by the pool's Close. Rows read with a
// context that ends are closed by database/sql when it ends. A transaction
// or sql.Conn left open between statements is an idle lease: a suspect
// after SuspectAfter. See docs/stdlib.md.
package stdlib
