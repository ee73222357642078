package pooltest_test

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pooltest"
)

// ctxFor returns a context that ends with the test, or after a minute.
func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// outside runs a counting query on a connection of its own to the pool's
// database, not the pool under test.
func outside(t *testing.T, pool *poolguard.Pool, sql string, args ...any) int {
	t.Helper()
	ctx := ctxFor(t)
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCleanTestPasses(t *testing.T) {
	t.Parallel()
	ft := newFakeT(t)
	ft.run(func() {
		pool := pooltest.New(ft, pooltest.Grace(time.Minute)) // a clean test does not wait
		ctx := ctxFor(t)
		if err := pool.WithTx(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "CREATE TABLE t (x int)")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Released by another goroutine while the check waits.
		go func() {
			time.Sleep(10 * time.Millisecond)
			c.Release()
		}()
	})
	ft.finish()
	if ft.Failed() {
		t.Fatalf("a clean test failed:\n%s", ft.report())
	}
}

func TestLeakedLeaseFails(t *testing.T) {
	t.Parallel()
	ft := newFakeT(t)
	var c *poolguard.Conn
	ft.run(func() {
		pool := pooltest.New(ft, pooltest.Grace(0))
		var err error
		c, err = pool.Acquire(ctxFor(t)) // leaked: the mark for acquireLine
		if err != nil {
			t.Fatal(err)
		}
	})
	ft.finish()
	mustContain(t, "failure", ft.report(),
		"1 connection still held at the end of the test",
		`partition "default", held `,
		"pooltest_test.TestLeakedLeaseFails",
		acquireLine(t, "pooltest_test.go", "// leaked: the mark for acquireLine"))
	if strings.Contains(ft.report(), "testing.tRunner") {
		t.Errorf("the stack is not trimmed to the test's code:\n%s", ft.report())
	}
	c.Release() // after the check: the lease was revoked at Close
}

// TestIdleInTransaction checks both sides of NoLeaks on a lease left in a
// transaction: the pool's, and the server's unless turned off.
func TestIdleInTransaction(t *testing.T) {
	t.Parallel()
	for _, serverCheck := range []bool{true, false} {
		ft := newFakeT(t)
		opts := []pooltest.Option{pooltest.Grace(0)}
		if !serverCheck {
			opts = append(opts, pooltest.NoServerCheck())
		}
		var c *poolguard.Conn
		ft.run(func() {
			pool := pooltest.New(ft, opts...)
			ctx := ctxFor(t)
			var err error
			if c, err = pool.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Begin(ctx); err != nil { //leakcheck:ignore left in its transaction on purpose
				t.Fatal(err)
			}
		})
		ft.finish()
		mustContain(t, "failure", ft.report(), "in_transaction")
		if got := strings.Contains(ft.report(), "left idle in transaction on the server"); got != serverCheck {
			t.Errorf("server check %v, but the report mentions the server: %v\n%s", serverCheck, got, ft.report())
		}
		c.Release()
	}
}

// A pooler such as PgBouncer hands out process IDs anywhere in the uint32
// range: the server check takes them all.
func TestServerCheckLargePIDs(t *testing.T) {
	t.Parallel()
	pool := pooltest.New(t)
	if n, err := pooltest.IdleInTx(pool, []int64{1, 1<<31 + 5, 1<<32 - 1}); n != 0 || err != nil {
		t.Errorf("server check on PIDs beyond int32: %d backends, %v", n, err)
	}
}

func TestProvenLeakFails(t *testing.T) {
	t.Parallel()
	ft := newFakeT(t)
	ft.run(func() {
		pool := pooltest.New(ft)
		ctx := ctxFor(t)
		var escaped *poolguard.Conn
		if err := pool.With(ctx, func(c *poolguard.Conn) error {
			escaped = c
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := escaped.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrReleased) {
			t.Fatalf("use after the scope: got %v, want ErrReleased", err)
		}
	})
	ft.finish()
	mustContain(t, "failure", ft.report(), "1 leak proven during the test", "scope_escaped", `partition "default"`,
		"pooltest_test.TestProvenLeakFails")
}

// TestOwnPool checks NoLeaks on a pool the test made itself: without a
// Recorder it counts proven leaks, with one it shows their stacks.
func TestOwnPool(t *testing.T) {
	t.Parallel()
	base := pooltest.New(t)
	for _, withRecorder := range []bool{false, true} {
		ft := newFakeT(t)
		cfg := base.Config()
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.CloseTimeout = time.Millisecond
		var opts []pooltest.Option
		if withRecorder {
			rec := &pooltest.Recorder{}
			cfg.OnLeak = rec.Record
			opts = append(opts, pooltest.Events(rec))
		}
		pool, err := poolguard.New(ctxFor(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		ft.run(func() {
			pooltest.NoLeaks(ft, pool, opts...)
			c, err := pool.Acquire(ctxFor(t)) //leakcheck:ignore leaked until Close, for NoLeaks to find
			if err != nil {
				t.Fatal(err)
			}
			pool.Close() // revokes the lease and reports it as a proven leak
			// Reachable until Close, so that a garbage collection cannot
			// prove the leak first.
			runtime.KeepAlive(c)
		})
		ft.finish()
		mustContain(t, "failure", ft.report(), "1 leak proven during the test")
		if withRecorder {
			mustContain(t, "failure", ft.report(), "open_at_close", acquireLine(t, "pooltest_test.go", "leaked until Close"))
		} else {
			mustContain(t, "failure", ft.report(), "no stacks")
		}
	}
}

func TestVerifyTestMain(t *testing.T) {
	t.Parallel()
	base := pooltest.New(t)
	for _, tc := range []struct {
		name     string
		leak     bool
		testCode int
		want     int
		output   string
	}{
		{"clean", false, 0, 0, ""},
		{"leak", true, 0, 1, "pooltest: pool 1 of 1, after the tests:\npooltest: 1 connection still held"},
		{"failed tests", false, 1, 1, ""},
	} {
		cfg := base.Config()
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.CloseTimeout = time.Millisecond
		pool, err := poolguard.New(ctxFor(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		var leaked *poolguard.Conn // kept reachable, so that the leak is a held lease
		got := pooltest.VerifyMain(func() int {
			if tc.leak {
				if leaked, err = pool.Acquire(ctxFor(t)); err != nil {
					t.Fatal(err)
				}
			} else if _, err := pool.Exec(ctxFor(t), "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			return tc.testCode
		}, []*poolguard.Pool{pool}, &out, false)
		runtime.KeepAlive(leaked)
		if got != tc.want || !strings.HasPrefix(out.String(), tc.output) || (tc.output == "") != (out.Len() == 0) {
			t.Errorf("%s: exit code %d, output:\n%s\nwant exit code %d, output starting %q", tc.name, got, out.String(), tc.want, tc.output)
		}
		if st := pool.Stats().Total(); st.InUse != 0 || st.Idle != 0 {
			t.Errorf("%s: the pool was not closed: %d in use, %d idle", tc.name, st.InUse, st.Idle)
		}
	}
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  []pooltest.Option
		query string
	}{
		{"schema", nil, "SELECT current_schema()"},
		{"database", []pooltest.Option{pooltest.FreshDatabase()}, "SELECT current_database()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pooltest.New(t, tc.opts...)
			var name string
			if err := pool.QueryRow(ctxFor(t), tc.query).Scan(&name); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(name, "pooltest_testisolation_"+tc.name+"_") {
				t.Errorf("%s = %q, want one of the test's own", tc.query, name)
			}
			// The same table as every other test's, without conflict.
			if _, err := pool.Exec(ctxFor(t), "CREATE TABLE users (id int)"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
