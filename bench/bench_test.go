package bench

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for database/sql

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
)

// poolSize is the number of connections of every pool under test, 16
// except where a benchmark says otherwise.
var poolSize = 16

// dsn is the connection string of the server shared by all benchmarks; it
// is empty when no benchmark was asked for.
var dsn string

func TestMain(m *testing.M) {
	flag.Parse()
	if flag.Lookup("test.bench").Value.String() == "" && !*gate {
		// Only benchmarks live here, and the gate that runs them: without
		// -bench or -gate there is nothing to run, and no reason to start
		// a server.
		os.Exit(m.Run())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := pgtemp.Start(ctx, pgtemp.Options{Settings: map[string]string{"max_connections": "300"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	dsn = srv.DSN()
	return m.Run()
}

// pool is one pool under test, behind the operations the benchmarks need.
type pool interface {
	acquire(ctx context.Context) (lease, error)
	close()
}

// lease is a connection acquired from a pool.
type lease interface {
	// selectOne runs SELECT 1 and scans its result.
	selectOne(ctx context.Context) error
	release()
}

// poolKind names a pool and says how to open one with poolSize connections.
type poolKind struct {
	name string
	open func(ctx context.Context) (pool, error)
}

var (
	poolguardTracked = poolKind{"poolguard", func(ctx context.Context) (pool, error) {
		return openPoolguard(ctx, func(*poolguard.Config) {})
	}}
	poolguardUntracked = poolKind{"poolguard-notrack", func(ctx context.Context) (pool, error) {
		return openPoolguard(ctx, func(c *poolguard.Config) {
			c.DisableLeakTracking = true
			c.StackDepth = -1
		})
	}}
	poolguardNoStack = poolKind{"poolguard-nostack", func(ctx context.Context) (pool, error) {
		return openPoolguard(ctx, func(c *poolguard.Config) { c.StackDepth = -1 })
	}}
	pgxpoolKind = poolKind{"pgxpool", openPgxpool}
	sqlKind     = poolKind{"database_sql", openSQL}
)

// openPoolguard opens a poolguard pool with the defaults, changed by set.
// MaxWaiting is raised above its default (ten waiters per connection, 160
// here), which would refuse the 256-goroutine runs with ErrQueueFull.
func openPoolguard(ctx context.Context, set func(*poolguard.Config)) (pool, error) {
	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = poolSize
	cfg.MaxWaiting = 1024
	set(cfg)
	p, err := poolguard.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return pgxStyle[*poolguard.Conn, *poolguard.Pool]{p}, nil
}

func openPgxpool(ctx context.Context) (pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(poolSize)
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return pgxStyle[*pgxpool.Conn, *pgxpool.Pool]{p}, nil
}

// pgxConn is the part of a connection lease that poolguard and pgxpool
// share.
type pgxConn interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Release()
}

// pgxPool is the part of a pool that poolguard and pgxpool share.
type pgxPool[C pgxConn] interface {
	Acquire(ctx context.Context) (C, error)
	Close()
}

// pgxStyle adapts poolguard and pgxpool, which have the same API, to pool.
// It and its lease hold one pointer each, so a lease is handed out through
// an interface without an allocation.
type pgxStyle[C pgxConn, P pgxPool[C]] struct{ p P }

func (p pgxStyle[C, P]) acquire(ctx context.Context) (lease, error) {
	c, err := p.p.Acquire(ctx)
	return pgxLease[C]{c}, err
}

func (p pgxStyle[C, P]) close() { p.p.Close() }

type pgxLease[C pgxConn] struct{ c C }

func (l pgxLease[C]) selectOne(ctx context.Context) error {
	var n int
	return l.c.QueryRow(ctx, "SELECT 1").Scan(&n)
}

func (l pgxLease[C]) release() { l.c.Release() }

func openSQL(context.Context) (pool, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	return sqlPool{db}, nil
}

// sqlPool adapts database/sql, with pgx's driver, to pool.
type sqlPool struct{ db *sql.DB }

func (p sqlPool) acquire(ctx context.Context) (lease, error) {
	c, err := p.db.Conn(ctx)
	return sqlLease{c}, err
}

func (p sqlPool) close() { p.db.Close() }

type sqlLease struct{ c *sql.Conn }

func (l sqlLease) selectOne(ctx context.Context) error {
	var n int
	return l.c.QueryRowContext(ctx, "SELECT 1").Scan(&n)
}

func (l sqlLease) release() { l.c.Close() }

// withPools runs one sub-benchmark "pool=<name>" per kind, with a pool
// opened and warmed up (all poolSize connections open and idle) outside the
// timed runs, and closed after them.
func withPools(b *testing.B, kinds []poolKind, fn func(b *testing.B, p pool)) {
	for _, k := range kinds {
		b.Run("pool="+k.name, func(b *testing.B) {
			fn(b, openWarm(b, k))
		})
	}
}

// openWarm opens a pool of kind k and warms it up; it is closed when tb ends.
func openWarm(tb testing.TB, k poolKind) pool {
	tb.Helper()
	ctx := context.Background()
	p, err := k.open(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.close)
	if err := warm(ctx, p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// warm opens all of p's connections by holding poolSize leases at once,
// each checked with a query.
func warm(ctx context.Context, p pool) error {
	ls := make([]lease, 0, poolSize)
	defer func() {
		for _, l := range ls {
			l.release()
		}
	}()
	for range poolSize {
		l, err := p.acquire(ctx)
		if err != nil {
			return err
		}
		ls = append(ls, l)
		if err := l.selectOne(ctx); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkAcquireRelease measures acquiring a connection and releasing it
// at once, without a query: the pool's own overhead, and its behaviour under
// contention when more goroutines than connections compete. poolguard runs
// with its defaults, with leak tracking by finalizer but no stacks
// (StackDepth -1), and with no tracking at all.
func BenchmarkAcquireRelease(b *testing.B) {
	kinds := []poolKind{poolguardTracked, poolguardNoStack, poolguardUntracked, pgxpoolKind, sqlKind}
	withPools(b, kinds, func(b *testing.B, p pool) {
		for _, g := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
				drive(b, p, g, false)
			})
		}
	})
}

// BenchmarkLarge is BenchmarkAcquireRelease on a pool of 100 connections
// with 1,024 goroutines: the outage's pool size, with ten callers per
// connection.
func BenchmarkLarge(b *testing.B) {
	defer func(n int) { poolSize = n }(poolSize)
	poolSize = 100
	kinds := []poolKind{poolguardTracked, pgxpoolKind, sqlKind}
	withPools(b, kinds, func(b *testing.B, p pool) {
		b.Run("conns=100/goroutines=1024", func(b *testing.B) { drive(b, p, 1024, false) })
	})
}

// BenchmarkSelect1 measures SELECT 1 end to end (acquire, query, scan,
// release) with up to 16 times more goroutines than connections. Besides
// the time per query it reports the throughput over all goroutines (ops/s)
// and the 99th percentile of the time spent in the acquire step alone
// (wait-p99-µs).
func BenchmarkSelect1(b *testing.B) {
	kinds := []poolKind{poolguardTracked, pgxpoolKind, sqlKind}
	withPools(b, kinds, func(b *testing.B, p pool) {
		for _, g := range []int{1, 8, 64, 256} {
			b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
				drive(b, p, g, true)
			})
		}
	})
}

// drive runs b.N acquires on p, spread over the given number of
// goroutines. With query set, each lease runs SELECT 1 before it is
// released, and the duration of each acquire is recorded, into a slice
// preallocated per goroutine so that recording does not disturb the timing.
func drive(b *testing.B, p pool, goroutines int, query bool) {
	ctx := context.Background()
	waits := make([][]time.Duration, goroutines)
	if query {
		for i := range waits {
			waits[i] = make([]time.Duration, 0, share(b.N, goroutines, i))
		}
	}
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for i := range goroutines {
		wg.Go(func() {
			errs[i] = work(ctx, p, share(b.N, goroutines, i), &waits[i], query)
		})
	}
	wg.Wait()
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	if query {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		b.ReportMetric(float64(p99(slices.Concat(waits...)))/float64(time.Microsecond), "wait-p99-µs")
	}
}

// work is one goroutine's part of drive: n leases.
func work(ctx context.Context, p pool, n int, waits *[]time.Duration, query bool) error {
	for range n {
		var start time.Time
		if query {
			start = time.Now()
		}
		l, err := p.acquire(ctx)
		if err != nil {
			return err
		}
		if query {
			*waits = append(*waits, time.Since(start))
			err = l.selectOne(ctx)
		}
		l.release()
		if err != nil {
			return err
		}
	}
	return nil
}

// share is goroutine i's part of n operations spread over g goroutines.
func share(n, g, i int) int {
	s := n / g
	if i < n%g {
		s++
	}
	return s
}

// p99 returns the 99th percentile of ds (nearest rank), sorting ds.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[(len(ds)*99+99)/100-1]
}

// BenchmarkCost isolates the runtime operations that leak tracking and the
// pool's bookkeeping add to an acquire, so that the reading of the pool
// benchmarks can be checked on any machine: a clock read, recording the
// caller's stack at several depths (from a stack deeper than the deepest
// recording), arming and disarming a finalizer on a new handle, and the
// runtime.AddCleanup alternative to it.
func BenchmarkCost(b *testing.B) {
	b.Run("op=time.Now", func(b *testing.B) {
		b.ReportAllocs()
		var t time.Time
		for b.Loop() {
			t = time.Now()
		}
		_ = t
	})
	for _, depth := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("op=runtime.Callers/depth=%d", depth), func(b *testing.B) {
			b.ReportAllocs()
			nest(32, func() {
				var buf [16]uintptr
				for b.Loop() {
					runtime.Callers(2, buf[:depth])
				}
			})
		})
	}
	// Each acquire arms the finalizer of a new handle, so these do too; op=new
	// is the allocation alone, to subtract.
	type handle struct{ _ [4]*byte } // the size and kind of a lease handle
	var sink *handle
	b.Run("op=new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = new(handle)
		}
	})
	b.Run("op=new+runtime.SetFinalizer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := new(handle)
			runtime.SetFinalizer(h, func(*handle) {})
			runtime.SetFinalizer(h, nil)
			sink = h
		}
	})
	b.Run("op=new+runtime.AddCleanup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := new(handle)
			c := runtime.AddCleanup(h, func(int) {}, 0)
			c.Stop()
			sink = h
		}
	})
	_ = sink
}

// nest calls fn from depth frames further down the stack.
//
//go:noinline
func nest(depth int, fn func()) {
	if depth == 0 {
		fn()
		return
	}
	nest(depth-1, fn)
}
