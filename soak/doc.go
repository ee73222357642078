// Package soak holds the chaos soak test of poolguard: one pool with
// partitions, on a throw-away PostgreSQL server, under a mixed workload
// and injected faults at the same time, with a ledger that shows any lost
// or doubled write. It has no exported API; everything is in its test
// files.
//
// The workload runs many goroutines that use every way in: With and
// WithTx, Acquire and Release, queries whose rows stay open for a while,
// batches, copies, Begin and Commit on the pool. Some leak on purpose,
// each from a function of its own (a dropped Conn, a transaction
// dropped, rows left open at the end of a With scope, a Conn used after
// its With scope), some panic inside With or WithTx, and some cancel
// their context at a random moment or run out of time.
//
// A chaos goroutine meanwhile terminates random backends of the pool,
// idle and busy; restarts the server every so often, alternating a fast
// shutdown with an immediate one; pauses and resumes partitions; revokes
// leases with Pool.Revoke (those the workload offers, and dropped ones,
// which cannot change under the call); holds row and table locks that stall
// the workload's statements; and runs the garbage collector.
//
// What is checked, during the run and at its end:
//
//   - the server never holds more of the pool's connections than
//     MaxConns, and no partition more than its Max, counted in
//     pg_stat_activity by application_name on a separate connection;
//   - every lease ends exactly once: once the workload stops, nothing is
//     in use, nobody waits, and the pool's connections agree with the
//     server's count;
//   - every proven leak is one of the deliberate ones (its call site is a
//     leaking site of the workload, its backend that of a leak the
//     workload made), and every deliberate leak was proven or revoked;
//   - nothing lost, nothing doubled: every write reported committed is in
//     the ledger, none reported failed is, one whose outcome is unknown
//     (the connection broke during COMMIT) is there whole or not at all,
//     and the running totals per account agree with the rows;
//   - no goroutine is left behind once the pool is closed.
//
// The soak is skipped under -short. Without flags it runs for a minute,
// which is how CI runs it within go test -race work. The long run:
//
//	go test -race ./soak -run TestSoak -soak.duration=10m -timeout 30m -v
//
// It ends by logging its figures: operations by kind, faults injected by
// kind, restarts survived, leaks made, proven and revoked, false proofs,
// and ledger rows checked.
package soak
