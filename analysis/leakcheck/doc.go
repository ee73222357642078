// Package leakcheck defines an Analyzer that reports pooled resources
// that can reach a function exit without being released.
//
// # Analyzer leakcheck
//
// leakcheck: report resources that are not released on every path
//
// A connection taken from a pool and not given back on one error path
// leaks a little at a time until the pool is empty. leakcheck finds the
// call that acquires a resource, then searches the control-flow graph
// of the function for a path from it to a return, a panic or the end of
// the function that neither releases the resource nor hands it to
// someone else. It reports the acquisition and names the exit:
//
//	connection acquired here is not released on the return at sync.go:48
//
// A resource is released by a call of its release method (directly, by
// defer, through a closure that is called or deferred, or through a
// function that releases its parameter, in this package or another).
// Returning it, storing it in a field, map, slice or channel, or
// passing it to a goroutine hands it over and ends the search. The
// error path of the acquisition itself (err != nil) is not a leak, and
// neither is a path on which the resource variable is nil.
//
// Built in: poolguard Acquire/Release, Query, Begin and SendBatch;
// pgxpool.Pool.Acquire; pgx and pgxpool Query, QueryRow, Begin and
// SendBatch; database/sql Query, QueryRow, Begin, Conn and Prepare;
// net/http responses (Body.Close); os.Open, Create, OpenFile and
// CreateTemp. Rows count as released on the path where Next returned
// false, pgx rows also where Scan failed, and rows passed to
// pgx.CollectRows, CollectOneRow, CollectExactlyOneRow, AppendRows or
// ForEachRow are released by them.
//
// An interface method whose first result is one of these resources (a
// sqlc DBTX's Query, a job queue's Begin), or a type that embeds one
// (sqlx's Rows), acquires it when it takes arguments and returns an
// error, as the acquire functions do; a getter does not. So does a
// function that returns a resource it has just acquired, on every path.
//
// The -resources flag names a file of extra resources, one per line, and
// of functions that release what is passed to them:
//
//	# acquire function               release methods   noun
//	(*example.com/lease.Manager).Get Put,Discard       lease
//	example.com/store.Open           Close
//	release example.com/lease.Recycle
//
// A finding is silenced by a comment on the line of the acquisition or
// the line above it:
//
//	//leakcheck:ignore the pool owns this connection
//
// The reason is required.
package leakcheck
