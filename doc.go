// Package poolguard is a PostgreSQL connection pool for Go that makes a
// leaked connection impossible to miss and impossible to spread.
//
// Its API is pgxpool's where it can be: ParseConfig and New (or Connect)
// build a Pool; Acquire leases a *Conn with Exec, Query, QueryRow,
// SendBatch, CopyFrom, Begin and Release; the Pool has Exec, Query and
// QueryRow shortcuts. The recommended style is scoped:
//
//	err := pool.With(ctx, func(c *poolguard.Conn) error {
//		// c is released when this function returns, on every path
//	})
//	err = pool.WithTx(ctx, func(tx pgx.Tx) error {
//		// committed on nil, rolled back on an error or a panic
//	})
//
// # Leases and leaks
//
// Every Acquire creates a lease: a fresh *Conn handle that records the
// partition, the acquire time and the caller's stack (program counters,
// formatted only when reported). A lease that is never released is
// detected, in order of certainty:
//
//   - proven, when its handle became unreachable without Release (the
//     garbage collector tells), or when a Conn acquired by With is used, or
//     still busy, after the With returned;
//   - suspected, when it is held longer than SuspectAfter with no query in
//     flight: warned about once, and noted again if it is released after all.
//
// Events go to the slog Logger and to Config.OnLeak, as a LeakEvent naming
// the partition, the file:line and function that acquired, the stack, the
// age and the backend PID. A proven leak's connection is destroyed (never
// reused) and its slot given back at once. A partition's MaxHold revokes
// leases held too long: later calls on the handle fail with
// ErrLeaseRevoked, a query in flight is cancelled.
//
// # Partitions
//
// A pool may be split into partitions, one per workload, each with a
// Guaranteed share that no other partition may borrow, a Max, a bounded
// FIFO wait queue and its own application_name, under the pool's hard
// MaxConns. A background job that leaks can then exhaust only its own
// partition, never the API's.
//
// # Errors
//
// An acquire that cannot be served returns an *AcquireError matching
// ErrAcquireTimeout, ErrQueueFull, ErrPaused or ErrClosed; its message names
// the call sites holding the partition's connections.
package poolguard
