package pooltest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
)

func TestFailAcquire(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t)
	faults := pooltest.Inject(t, pool, pooltest.FailAcquire(2, nil))
	ctx := ctxFor(t)
	for i, want := range []error{nil, pooltest.ErrInjected, nil} {
		c, err := pool.Acquire(ctx)
		if !errors.Is(err, want) {
			t.Fatalf("acquire %d: got %v, want %v", i+1, err, want)
		}
		c.Release()
	}
	if got := faults.Fired(); len(got) != 1 || !strings.Contains(got[0], "FailAcquire(2) fired") {
		t.Errorf("Fired() = %q, want one FailAcquire(2)", got)
	}
}

func TestFailQueryNeverReachesServer(t *testing.T) {
	t.Parallel()
	unique := &pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}
	pool := pooltest.New(t, pooltest.WithFaults(pooltest.FailQuery("insert into items", unique)))
	ctx := ctxFor(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE items (x int)"); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, "INSERT INTO items VALUES (1)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("insert: got %v, want the injected unique violation", err)
	}
	if n := outside(t, pool, "SELECT count(*) FROM items"); n != 0 {
		t.Fatalf("the failed insert reached the server: %d rows", n)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO items VALUES (2)"); err != nil {
		t.Fatalf("second insert, after the fault fired once: %v", err)
	}
	if n := outside(t, pool, "SELECT count(*) FROM items"); n != 1 {
		t.Fatalf("got %d rows, want the second insert's", n)
	}
}

func TestFailQueryInTransactionRollsBack(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t, pooltest.WithFaults(pooltest.FailQuery("UPDATE accounts", nil)))
	ctx := ctxFor(t)
	if _, err := pool.Exec(ctx, "CREATE TABLE accounts (id int, balance int); INSERT INTO accounts VALUES (1, 10)"); err != nil {
		t.Fatal(err)
	}
	err := pool.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO accounts VALUES (2, 0)"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE accounts SET balance = 0 WHERE id = 1")
		return err
	})
	if !errors.Is(err, pooltest.ErrInjected) {
		t.Fatalf("WithTx: got %v, want the injected fault", err)
	}
	if n := outside(t, pool, "SELECT count(*) FROM accounts"); n != 1 {
		t.Errorf("the insert before the fault was not rolled back: %d rows", n)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t)
	faults := pooltest.Inject(t, pool, pooltest.Delay("SELECT 1", time.Hour))
	c, err := pool.Acquire(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	ctx, cancel := context.WithCancel(ctxFor(t))
	done := make(chan error)
	go func() {
		_, err := c.Exec(ctx, "SELECT 1")
		done <- err
	}()
	// The statement is held back until its context ends.
	for len(faults.Fired()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("delayed statement: got %v, want the context's cancellation", err)
	}
	if _, err := c.Exec(ctxFor(t), "SELECT 1"); err != nil {
		t.Fatalf("the delay fired more than once: %v", err)
	}
}

func TestTerminateDuringQuery(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t)
	faults := pooltest.Inject(t, pool, pooltest.Terminate("pg_sleep"))
	ctx := ctxFor(t)
	var pid uint32
	err := pool.With(ctx, func(c *poolguard.Conn) error {
		pid = c.PID()
		_, err := c.Exec(ctx, "SELECT pg_sleep(60)")
		return err
	})
	var pgErr *pgconn.PgError
	if err == nil || (errors.As(err, &pgErr) && pgErr.Code != "57P01") {
		t.Fatalf("statement on a terminated backend: got %v, want a broken connection", err)
	}
	waitGone(t, pool, pid)
	if fired := faults.Fired(); len(fired) != 1 || !strings.Contains(fired[0], "terminated during") {
		t.Errorf("Fired() = %q, want one termination during the statement", fired)
	}
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the pool did not replace the terminated connection: %v", err)
	}
}

// TestTerminateAfterFastQuery checks the other case of Terminate: a
// statement over before the server showed it running is not interrupted,
// but its backend is terminated just after, so the next call fails.
func TestTerminateAfterFastQuery(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t)
	faults := pooltest.Inject(t, pool, pooltest.Terminate("SELECT 1"))
	ctx := ctxFor(t)
	err := pool.With(ctx, func(c *poolguard.Conn) error {
		_, _ = c.Exec(ctx, "SELECT 1") // fails only if terminated in time
		waitGone(t, pool, c.PID())
		_, err := c.Exec(ctx, "SELECT 2")
		return err
	})
	if err == nil {
		t.Fatal("a statement on a terminated backend succeeded")
	}
	if fired := faults.Fired(); len(fired) != 1 || !strings.Contains(fired[0], "terminated") {
		t.Errorf("Fired() = %q, want one termination", fired)
	}
}

func TestFillQueue(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t, pooltest.Configure(func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "api"}, {Name: "sync", Max: 1, MaxWaiting: 2}}
	}))
	sync := pool.Partition("sync")
	drain := pooltest.FillQueue(t, pool, "sync")
	ctx := ctxFor(t)
	if _, err := sync.Acquire(ctx); !errors.Is(err, poolguard.ErrQueueFull) {
		t.Fatalf("acquire on a full queue: got %v, want ErrQueueFull", err)
	}
	if st := sync.Stats(); st.Rejected.Of(poolguard.RejectQueueFull) != 1 || st.InUse != 1 || st.Waiting != 2 {
		t.Errorf("stats: %d rejected as queue full, %d in use, %d waiting; want 1, 1, 2", st.Rejected.Of(poolguard.RejectQueueFull), st.InUse, st.Waiting)
	}
	if _, err := pool.Partition("api").Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("another partition is affected: %v", err)
	}
	drain()
	if _, err := sync.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("after drain: %v", err)
	}
}

// TestFaultsListedOnFailure checks that a failing test lists the faults
// that fired, and that faults stay in their own pool and test.
func TestFaultsListedOnFailure(t *testing.T) {
	t.Parallel()
	t.Run("faulty", func(t *testing.T) {
		t.Parallel()
		faulty := newFakeT(t)
		faulty.run(func() {
			pool := pooltest.New(faulty, pooltest.Grace(0), pooltest.WithFaults(pooltest.FailQuery("", nil).Times(-1)))
			for range 3 {
				if _, err := pool.Exec(ctxFor(t), "SELECT 1"); !errors.Is(err, pooltest.ErrInjected) {
					t.Errorf("got %v, want the injected fault", err)
				}
			}
			faulty.Errorf("the test's own failure")
		})
		faulty.finish()
		mustContain(t, "log", faulty.logText(), "faults that fired", `FailQuery("").Times(-1) fired: "SELECT 1"`)
	})
	t.Run("clean", func(t *testing.T) {
		t.Parallel()
		clean := newFakeT(t)
		clean.run(func() {
			pool := pooltest.New(clean)
			for range 3 {
				if _, err := pool.Exec(ctxFor(t), "SELECT 1"); err != nil {
					t.Errorf("a fault of another test reached this one: %v", err)
				}
			}
		})
		clean.finish()
		if clean.Failed() {
			t.Errorf("a leak of another test reached this one:\n%s", clean.report())
		}
	})
}

func TestInvalidFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fault pooltest.Fault
		want  string
	}{
		{pooltest.FailAcquire(0, nil), "counts acquires from 1"},
		{pooltest.Delay("x", 0), "must be positive"},
		{pooltest.FailQuery("x", nil).Times(0), "at least once"},
		{pooltest.FailQuery("x", nil).After(-1), "must not be negative"},
		{pooltest.Fault{}, "zero Fault"},
	} {
		ft := newFakeT(t)
		ft.run(func() { pooltest.New(ft, pooltest.WithFaults(tc.fault)) })
		ft.finish()
		mustContain(t, "failure", ft.report(), tc.want)
	}
}

func TestNilPool(t *testing.T) {
	t.Parallel()
	for name, call := range map[string]func(testing.TB){
		"NoLeaks":   func(t testing.TB) { pooltest.NoLeaks(t, nil) },
		"Inject":    func(t testing.TB) { pooltest.Inject(t, nil, pooltest.FailQuery("", nil)) },
		"FillQueue": func(t testing.TB) { pooltest.FillQueue(t, nil, "default") },
	} {
		ft := newFakeT(t)
		ft.run(func() { call(ft) })
		ft.finish()
		mustContain(t, name, ft.report(), "pooltest: "+name+": the pool is nil")
	}
}

func TestFillQueueUnknownPartition(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t)
	ft := newFakeT(t)
	ft.run(func() { pooltest.FillQueue(ft, pool, "sync") })
	ft.finish()
	mustContain(t, "failure", ft.report(), `no partition named "sync": the pool has "default"`)
}

// waitGone waits until the server no longer lists backend pid, which it
// may still do for a moment after the client saw its connection break.
func waitGone(t *testing.T, pool *poolguard.Pool, pid uint32) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); outside(t, pool, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int64(pid)) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backend %d is still there", pid)
		}
	}
}
