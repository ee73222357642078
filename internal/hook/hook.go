// Package hook connects poolguard's own packages to a pool where no public
// API should: fault injection, which package pooltest installs on the pool
// under test so that error paths run on real connections, and acquires made
// on behalf of database/sql, whose own frames stand between the caller and
// the acquire.
package hook

import "context"

// Faults is called by a pool at the points where a fault may be injected.
// Implementations must be safe for concurrent use.
type Faults interface {
	// Acquire runs before each acquire on the named partition. A non-nil
	// error fails the acquire with that error.
	Acquire(ctx context.Context, partition string) error
	// Call runs before each statement on a leased connection, with the
	// backend's process ID and the statement (for a batch, its first; for
	// COPY, "COPY table"; for transaction control, "BEGIN", "SAVEPOINT",
	// "COMMIT" or "ROLLBACK"). It may sleep or act on the server; a non-nil
	// error fails the call with that error, and the statement is not sent.
	Call(ctx context.Context, partition string, pid uint32, sql string) error
}

// SetFaults installs f on pool, a *poolguard.Pool; nil removes it. Package
// poolguard sets this function when it is initialized.
var SetFaults func(pool any, f Faults)

// AcquireFor acquires a connection of partition, a *poolguard.Partition,
// for a caller whose own frames (database/sql's, a driver's) stand between
// the user's code and the acquire: the lease records as many more frames
// as the pool allows, so that its call site is still the user's. It
// returns a *poolguard.Conn. Package poolguard sets this function when it
// is initialized.
var AcquireFor func(ctx context.Context, partition any) (any, error)
