package stdlib_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pooltest"
	"github.com/poolguard/poolguard/stdlib"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }

// setup is how a test wants its pool.
type setup struct {
	configure   func(*poolguard.Config)
	expectLeaks bool // the test leaks on purpose: only a lease held at the end fails it
	opts        []stdlib.OptionOpenDB
}

// newDB returns a pool for the test (pooltest.New, with its leak check), a
// *sql.DB on its first partition, closed before the pool, and the
// recorder of the pool's leak events.
func newDB(t *testing.T, s setup) (*poolguard.Pool, *sql.DB, *pooltest.Recorder) {
	t.Helper()
	ev := &pooltest.Recorder{}
	opts := []pooltest.Option{pooltest.Events(ev)}
	if s.configure != nil {
		opts = append(opts, pooltest.Configure(s.configure))
	}
	if s.expectLeaks {
		opts = append(opts, pooltest.ExpectLeaks())
	}
	pool := pooltest.New(t, opts...)
	db := stdlib.OpenDBFromPool(pool, s.opts...)
	t.Cleanup(func() { db.Close() })
	return pool, db, ev
}

// ctxTimeout returns a context that ends after d, or at the end of the test.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testCtx is the context of a call that should not take long.
func testCtx(t *testing.T) context.Context { return ctxTimeout(t, wait.Bound) }

// lineAbove returns the call site, as the pool names it, of the line
// above its caller's.
func lineAbove() string {
	_, file, line, _ := runtime.Caller(1)
	return fmt.Sprintf("stdlib/%s:%d", base(file), line-1)
}

func base(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[i+1:]
		}
	}
	return path
}

// released waits until the pool holds no lease.
func released(t *testing.T, pool *poolguard.Pool) {
	t.Helper()
	wait.Until(t, "every lease is released", func() bool { return len(pool.Leases()) == 0 })
}

// mustExec runs sql on db and fails the test on an error.
func mustExec(t *testing.T, db *sql.DB, sql string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(testCtx(t), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return res
}
