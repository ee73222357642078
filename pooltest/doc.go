// Package pooltest tests code that uses a poolguard pool: it fails a test
// that leaks a connection, and makes error paths easy to reach on real
// connections.
//
// NoLeaks is for connections what goleak is for goroutines: one line at the
// start of a test, and the test fails if a connection is still held when it
// ends, if a leak was proven while it ran, or if a backend of the pool is
// left idle in a transaction on the server. The failure names the partition,
// the age of the lease and the stack that acquired it:
//
//	func TestSync(t *testing.T) {
//		pool := pooltest.New(t) // a pool on a schema of its own, NoLeaks included
//		if err := syncUserData(ctx, pool, badUserID); err == nil {
//			t.Fatal("want a validation error")
//		}
//	}
//
// New gives each test a pool on a fresh schema (or database) of a
// throw-away PostgreSQL server (package pgtemp), so that tests may run in
// parallel. NoLeaks also checks a pool of your own; set a Recorder as its
// OnLeak for the stacks of leaks the pool proved and took back during the
// test. VerifyTestMain checks the pools a whole package shares, stops the
// server and looks for leaked goroutines.
//
// Faults make the error paths run for real, in the pool under test only:
// FailAcquire fails an acquire, FailQuery fails a statement before it is
// sent, Delay slows one down, Terminate ends its server backend while it
// runs, and FillQueue fills a partition so that acquires fail with
// poolguard.ErrQueueFull. The faults that fired are listed when a test
// fails.
package pooltest
