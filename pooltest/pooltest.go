package pooltest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
)

// FreshDatabase has New create a database for the test, rather than a
// schema on a shared database: for tests of what a schema does not
// isolate, such as extensions or database-wide statistics. It costs some
// hundreds of milliseconds more per test.
func FreshDatabase() Option { return func(o *options) { o.freshDB = true } }

// OnServer has New put the pool on srv, a server the test started for
// itself (with pgtemp.New, to stop or restart it), on its default
// database: the test owns the server, so no schema is made for it.
func OnServer(srv *pgtemp.Server) Option { return func(o *options) { o.server = srv } }

// WithFaults injects faults into the pool that New returns, as Inject does.
func WithFaults(faults ...Fault) Option {
	return func(o *options) { o.faults = append(o.faults, faults...) }
}

// Configure has New call fn on the pool's configuration before creating
// the pool, to set partitions or limits. An OnLeak set by fn is called
// after the Recorder that New sets for NoLeaks.
func Configure(fn func(*poolguard.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, fn) }
}

// New returns a pool for the test on a throw-away PostgreSQL server, whose
// connections use a schema of the test's own (search_path), so that tests
// calling New may run in parallel (see FreshDatabase for a database of its
// own). The pool is closed and the schema dropped when the test ends.
// NoLeaks is registered first, so a connection the test leaks fails it,
// with the stack that acquired it.
//
// The server is started by the first call in the test binary and shared by
// the tests after it (see package pgtemp; POOLGUARD_DATABASE_URL names an
// existing server to use instead). It stops when the test binary exits;
// VerifyTestMain stops it before checking for leaked goroutines, which a
// package using goleak.VerifyTestMain instead would see (the goroutine
// that waits for the server process).
//
// The pool has at most 4 connections and waits at most a tenth of a second
// at Close for leases still held (NoLeaks has already waited for them);
// Configure changes that. Its logger writes to the test's log.
func New(t testing.TB, opts ...Option) *poolguard.Pool {
	t.Helper()
	o := buildOptions(opts)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var dsn, schema string
	if o.server != nil {
		dsn = o.server.DSN()
	} else {
		var err error
		if dsn, schema, err = isolate(ctx, t, Server(t), o.freshDB); err != nil {
			t.Fatalf("pooltest: %v", err)
		}
	}
	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pooltest: %v", err)
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = schema
	}
	cfg.MaxConns = 4
	cfg.CloseTimeout = 100 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	for _, fn := range o.configure {
		fn(cfg)
	}
	if o.recorder == nil {
		o.recorder = &Recorder{}
	}
	cfg.OnLeak = chain(o.recorder.Record, cfg.OnLeak)
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		t.Fatalf("pooltest: %v", err)
	}
	t.Cleanup(pool.Close)
	NoLeaks(t, pool, slices.Concat(opts, []Option{Events(o.recorder)})...)
	if len(o.faults) > 0 {
		Inject(t, pool, o.faults...)
	}
	return pool
}

func chain(first, then func(poolguard.LeakEvent)) func(poolguard.LeakEvent) {
	if then == nil {
		return first
	}
	return func(ev poolguard.LeakEvent) {
		first(ev)
		then(ev)
	}
}

// testWriter writes the pool's log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// isolate gives the test a schema of its own on srv's database, or a
// database of its own if fresh, dropped when the test ends. It returns the
// URL to connect to and the schema to put on the search path, if any.
func isolate(ctx context.Context, t testing.TB, srv *pgtemp.Server, fresh bool) (dsn, schema string, err error) {
	name := uniqueName(t.Name())
	if fresh {
		if dsn, err = srv.CreateDatabase(ctx, name); err != nil {
			return "", "", fmt.Errorf("create the test's database: %w", err)
		}
		t.Cleanup(func() {
			dropAfter(t, func(ctx context.Context) error { return srv.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
		})
		return dsn, "", nil
	}
	dsn = srv.DSN()
	if err := adminExec(ctx, "CREATE SCHEMA "+name); err != nil {
		return "", "", fmt.Errorf("create the test's schema: %w", err)
	}
	t.Cleanup(func() {
		dropAfter(t, func(ctx context.Context) error { return adminExec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE") })
	})
	return dsn, name, nil
}

// dropAfter runs drop, which removes what isolate created, and logs its
// failure: the server removes it anyway when it stops.
func dropAfter(t testing.TB, drop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := drop(ctx); err != nil {
		t.Logf("pooltest: remove the test's schema or database: %v", err)
	}
}

// adminExec runs sql on the shared server's database, on a connection
// kept for that, which saves a connection setup per schema.
func adminExec(ctx context.Context, sql string) error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		return errors.New("the shared server is not running")
	}
	if shared.admin == nil || shared.admin.IsClosed() {
		conn, err := pgx.Connect(ctx, shared.srv.DSN())
		if err != nil {
			return err
		}
		shared.admin = conn
	}
	_, err := shared.admin.Exec(ctx, sql)
	return err
}

var nameSeq atomic.Int64

// uniqueName derives a schema or database name, unique to the process,
// from a test's name.
func uniqueName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "_"):
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 32 {
		name = name[:32]
	}
	return fmt.Sprintf("pooltest_%s_%d_%d", name, os.Getpid(), nameSeq.Add(1))
}

// shared is the server that New starts on first use.
var shared struct {
	mu    sync.Mutex
	srv   *pgtemp.Server
	err   error
	admin *pgx.Conn // for adminExec
}

// Server returns the throw-away server that New puts pools on, starting it
// on first use, for what a test checks on the server itself (for example
// pg_stat_activity). Its DSN names the database that holds the tests'
// schemas.
func Server(t testing.TB) *pgtemp.Server {
	t.Helper()
	srv, err := sharedServer()
	if err != nil {
		t.Fatalf("pooltest: start a PostgreSQL server: %v", err)
	}
	return srv
}

func sharedServer() (*pgtemp.Server, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.srv, shared.err = pgtemp.Start(ctx, pgtemp.Options{Settings: map[string]string{"max_connections": "300"}})
	}
	return shared.srv, shared.err
}

// closeShared stops the shared server, if it was started; a later New
// starts another.
func closeShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.admin != nil {
		_ = shared.admin.Close(context.Background())
	}
	if shared.srv != nil {
		_ = shared.srv.Close()
	}
	shared.srv, shared.err, shared.admin = nil, nil, nil
}

// VerifyTestMain runs the package's tests, then checks pools as NoLeaks
// does (held leases, leaks proven since the call, backends idle in a
// transaction), closes them, stops the server New started, and checks for
// leaked goroutines as goleak.VerifyTestMain does. It exits with a failure
// status if the tests failed or any check did. Use it as a package's
// TestMain, with the pools the package's tests share:
//
//	func TestMain(m *testing.M) {
//		pool := ... // shared by the tests, or none
//		pooltest.VerifyTestMain(m, pool)
//	}
func VerifyTestMain(m *testing.M, pools ...*poolguard.Pool) {
	os.Exit(verifyMain(m.Run, pools, os.Stderr, true))
}

// verifyMain is VerifyTestMain with its effects on the process made
// optional: final stops the shared server and checks for leaked
// goroutines, which only the last thing a test binary does may.
func verifyMain(run func() int, pools []*poolguard.Pool, w io.Writer, final bool) int {
	checks := make([]*check, len(pools))
	for i, p := range pools {
		if p == nil {
			fmt.Fprintf(w, "pooltest: VerifyTestMain: pool %d of %d is nil\n", i+1, len(pools))
			return 1
		}
		checks[i] = newCheck(p, buildOptions(nil))
	}
	code := run()
	for i, c := range checks {
		if code == 0 {
			if msg := c.run(); msg != "" {
				fmt.Fprintf(w, "pooltest: pool %d of %d, after the tests:\n%s\n", i+1, len(pools), msg)
				code = 1
			}
		}
		c.st.release()
		pools[i].Close()
	}
	if !final {
		return code
	}
	closeShared()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(w, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	return code
}

// FillQueue fills the named partition of pool for real, so that the next
// acquire on it fails with poolguard.ErrQueueFull: it acquires every
// connection the partition may hold, then parks callers in its wait queue
// until the queue is at its bound. It returns a function that drains the
// partition again, which also runs at the end of the test. Faults
// installed on the pool do not see FillQueue's own acquires. A connection
// of the partition that the test itself releases goes to a parked caller,
// whose place in the queue is then free.
func FillQueue(t testing.TB, pool *poolguard.Pool, partition string) (drain func()) {
	t.Helper()
	if pool == nil {
		t.Fatal("pooltest: FillQueue: the pool is nil")
	}
	pt := pool.Partition(partition)
	if err := pt.Err(); err != nil {
		t.Fatalf("pooltest: FillQueue: %v", err)
	}
	st := track(pool)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), bypass{}, true))
	var (
		mu   sync.Mutex
		held []*poolguard.Conn
		wg   sync.WaitGroup
		once sync.Once
	)
	drain = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			for _, c := range held {
				c.Release()
			}
			st.release()
		})
	}
	t.Cleanup(drain)
	fail := func(format string, args ...any) {
		t.Helper()
		drain()
		t.Fatalf("pooltest: FillQueue(%q): "+format, append([]any{partition}, args...)...)
	}
	limit := pt.Stats()
	for pt.Stats().InUse < limit.Max {
		actx, acancel := context.WithTimeout(ctx, adminTimeout)
		c, err := pt.Acquire(actx)
		acancel()
		if err != nil {
			fail("hold the partition's %d connections: %v", limit.Max, err)
		}
		held = append(held, c)
	}
	for range limit.MaxWaiting - pt.Stats().Waiting {
		wg.Go(func() {
			if c, err := pt.Acquire(ctx); err == nil {
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		})
	}
	for deadline := time.Now().Add(adminTimeout); pt.Stats().Waiting < limit.MaxWaiting; time.Sleep(pollInterval) {
		if time.Now().After(deadline) {
			fail("only %d of %d callers are waiting after %v", pt.Stats().Waiting, limit.MaxWaiting, adminTimeout)
		}
	}
	st.fired("FillQueue(%q): holding %d connections, %d callers waiting", partition, len(held), limit.MaxWaiting)
	return drain
}
