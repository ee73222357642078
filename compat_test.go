package poolguard_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
)

// TestHooks checks pgxpool's hooks with pgxpool's meanings.
func TestHooks(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	var connects, closes atomic.Int32
	var refuse atomic.Bool
	released := make(chan uint32, 8)
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.MaxConns = 2
		c.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
			connects.Add(1)
			cc.RuntimeParams["application_name"] = "rotated" // as a credential rotation would change the password
			return nil
		}
		c.PrepareConn = func(_ context.Context, conn *pgx.Conn) (bool, error) {
			if refuse.Swap(false) {
				return false, nil // close it; the acquire tries another
			}
			return true, nil
		}
		c.AfterRelease = func(conn *pgx.Conn) bool {
			released <- conn.PgConn().PID()
			return conn.PgConn().ParameterStatus("application_name") == "rotated"
		}
		c.BeforeClose = func(*pgx.Conn) { closes.Add(1) }
	})

	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var app string
	if err := c.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "rotated" {
		t.Fatalf("application_name = %q (%v), want BeforeConnect's", app, err)
	}
	pid := c.PID()
	c.Release()
	if got := <-released; got != pid {
		t.Fatalf("AfterRelease saw PID %d, want %d", got, pid)
	}

	// PrepareConn refuses the idle connection: it is closed and another opened.
	refuse.Store(true)
	c, err = p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.PID() == pid || connects.Load() != 2 {
		t.Fatalf("after PrepareConn refused PID %d, got PID %d with %d connects", pid, c.PID(), connects.Load())
	}
	wait.Until(t, "BeforeClose on the refused connection", func() bool { return closes.Load() == 1 })
	c.Release()
	<-released
}

// TestPrepareConnError checks that an error from PrepareConn fails the
// acquire, and that the connection goes back to the pool when PrepareConn
// also said it was good.
func TestPrepareConnError(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	errNotReady := errors.New("not ready")
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.MaxConns = 1
		c.PrepareConn = func(context.Context, *pgx.Conn) (bool, error) { return true, errNotReady }
	})
	if _, err := p.Acquire(ctx); !errors.Is(err, errNotReady) {
		t.Fatalf("Acquire = %v, want PrepareConn's error", err)
	}
	if st := p.Stat(); st.IdleConns() != 1 || st.AcquiredConns() != 0 {
		t.Fatalf("idle %d, acquired %d: the connection should be back in the pool", st.IdleConns(), st.AcquiredConns())
	}
}

// TestBeforeAcquire checks that the deprecated hook still works, through
// PrepareConn.
func TestBeforeAcquire(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	var calls atomic.Int32
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.BeforeAcquire = func(context.Context, *pgx.Conn) bool { return calls.Add(1) != 1 }
	})
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("BeforeAcquire called %d times, want 2 (one refusal, one acceptance)", calls.Load())
	}
}

// TestShouldPing checks that ShouldPing decides, with the idle time.
func TestShouldPing(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	var asked atomic.Int32
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.ShouldPing = func(_ context.Context, sp poolguard.ShouldPingParams) bool {
			asked.Add(1)
			return sp.Conn != nil && sp.IdleDuration >= 0
		}
		c.PingTimeout = 5 * time.Second
	})
	for range 2 {
		if err := p.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if asked.Load() != 1 {
		t.Fatalf("ShouldPing asked %d times, want once (for the idle connection)", asked.Load())
	}
}

// tracer records the acquires and releases it is told of.
type tracer struct {
	mu     sync.Mutex
	events []string
}

type ctxKey struct{}

func (tr *tracer) TraceAcquireStart(ctx context.Context, _ *poolguard.Pool, d poolguard.TraceAcquireStartData) context.Context {
	tr.add("start " + d.Partition)
	return context.WithValue(ctx, ctxKey{}, d.Partition)
}

func (tr *tracer) TraceAcquireEnd(ctx context.Context, _ *poolguard.Pool, d poolguard.TraceAcquireEndData) {
	if ctx.Value(ctxKey{}) != d.Partition {
		tr.add("end without the start's context")
	}
	switch {
	case d.Err != nil:
		tr.add("end " + d.Partition + " error")
	case d.Conn != nil:
		tr.add("end " + d.Partition)
	}
}

func (tr *tracer) TraceRelease(_ *poolguard.Pool, d poolguard.TraceReleaseData) {
	if d.Conn != nil && d.Held > 0 {
		tr.add("release " + d.Partition)
	}
}

// The ConnConfig's Tracer is a pgx.QueryTracer: the pool looks for its
// own interfaces on it.
func (tr *tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (tr *tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (tr *tracer) add(e string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, e)
}

// TestTracers checks that acquire and release tracers are found on the
// ConnConfig's Tracer, as pgxpool finds its own.
func TestTracers(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	tr := &tracer{}
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.ConnConfig.Tracer = tr
		c.Partitions = []poolguard.PartitionConfig{{Name: "api"}, {Name: "sync", MaxWaiting: -1, Max: 1}}
	})
	if err := p.Partition("api").Ping(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := p.Partition("sync").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Partition("sync").Acquire(ctx); !errors.Is(err, poolguard.ErrQueueFull) { //leakcheck:ignore refused: the partition is full
		t.Fatalf("second acquire = %v, want ErrQueueFull", err)
	}
	c.Release()
	want := []string{"start api", "end api", "release api", "start sync", "end sync", "start sync", "end sync error", "release sync"}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !slices.Equal(tr.events, want) {
		t.Fatalf("traced %q, want %q", tr.events, want)
	}
}

// TestStat checks pgxpool's Stat methods against what happened.
func TestStat(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 3 })
	a, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	st := p.Stat()
	if st.AcquireCount() != 2 || st.AcquiredConns() != 1 || st.IdleConns() != 1 || st.MaxConns() != 3 ||
		st.TotalConns() != 2 || st.NewConnsCount() != 2 || st.EmptyAcquireCount() != 2 || st.EmptyAcquireWaitTime() <= 0 {
		t.Fatalf("Stat: acquires %d, acquired %d, idle %d, max %d, total %d, new %d, empty %d (%v)",
			st.AcquireCount(), st.AcquiredConns(), st.IdleConns(), st.MaxConns(), st.TotalConns(), st.NewConnsCount(),
			st.EmptyAcquireCount(), st.EmptyAcquireWaitTime())
	}
	a.Release()
}

// TestMinIdleConns checks that idle connections are kept ready.
func TestMinIdleConns(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.MaxConns = 4
		c.MinIdleConns = 2
		c.HealthCheckPeriod = 20 * time.Millisecond
	})
	wait.Until(t, "two idle connections", func() bool { return p.Stat().IdleConns() == 2 })
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	wait.Until(t, "two idle connections beside the one in use", func() bool {
		st := p.Stat()
		return st.IdleConns() == 2 && st.TotalConns() == 3
	})
}

// TestResetAndAcquireAllIdle checks Reset and AcquireAllIdle.
func TestResetAndAcquireAllIdle(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 3 })
	var pids []uint32
	held, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range acquireN(t, p, 2) {
		pids = append(pids, c.PID())
		c.Release()
	}
	idle := p.AcquireAllIdle(ctx)
	if len(idle) != 2 {
		t.Fatalf("AcquireAllIdle leased %d connections, want the 2 idle", len(idle))
	}
	for _, c := range idle {
		if !slices.Contains(pids, c.PID()) {
			t.Errorf("AcquireAllIdle leased PID %d, not an idle one", c.PID())
		}
		c.Release()
	}
	heldPID := held.PID()
	p.Reset()
	held.Release()
	wait.Until(t, "every connection closed", func() bool { return p.Stat().TotalConns() == 0 })
	for _, pid := range append(pids, heldPID) {
		if backendAlive(t, pid) {
			t.Errorf("backend %d survived Reset", pid)
		}
	}
	fullSize(t, p)
}

func acquireN(t *testing.T, p *poolguard.Pool, n int) []*poolguard.Conn {
	t.Helper()
	var cs []*poolguard.Conn
	for range n {
		c, err := p.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// TestHijack checks that a hijacked connection leaves the pool and works.
func TestHijack(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, nil)
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stat(); st.TotalConns() != 0 || st.AcquiredConns() != 0 {
		t.Fatalf("after Hijack the pool still counts %d connections", st.TotalConns())
	}
	if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("the Conn still works after Hijack")
	}
	if _, err := c.Hijack(); err == nil {
		t.Fatal("a second Hijack succeeded")
	}
	fullSize(t, p)
}

// TestExposedConnNotReused checks the contract of a pgx.Conn handed out
// beyond the lease's checks: kept after the lease, it never reaches the
// next holder's session, and the lease is not proven leaked while the
// pgx.Conn may be in use.
func TestExposedConnNotReused(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	for _, how := range []string{"Raw", "Conn", "Tx.Conn"} {
		t.Run(how, func(t *testing.T) {
			p, ev := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 1 })
			var kept *pgx.Conn
			func() {
				c, err := p.Acquire(ctx) //leakcheck:ignore dropped unreleased on purpose, its pgx.Conn kept
				if err != nil {
					t.Fatal(err)
				}
				switch how {
				case "Raw":
					c.Raw(func(conn *pgx.Conn) error { kept = conn; return nil })
				case "Conn":
					kept = c.Conn()
				case "Tx.Conn":
					tx, err := c.Begin(ctx)
					if err != nil {
						t.Fatal(err)
					}
					kept = tx.Conn()
					tx.Rollback(ctx)
				}
				// The Conn is dropped unreleased while the pgx.Conn is kept.
			}()
			runtime.GC()
			runtime.GC()
			if err := kept.Ping(ctx); err != nil {
				t.Fatalf("the kept pgx.Conn stopped working while its lease was held: %v", err)
			}
			if n := len(ev.Of(poolguard.LeakUnreachable)); n != 0 {
				t.Fatalf("%d leaks proven while the pgx.Conn was in use", n)
			}
			pid := kept.PgConn().PID()
			p.Revoke(pid) // the only way back for a pinned lease: MaxHold, or by hand
			wait.Until(t, "the exposed connection closed", func() bool { return !backendAlive(t, pid) })
			c, err := p.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Release()
			if c.PID() == pid {
				t.Fatal("the exposed connection was reused")
			}
			if _, err := kept.Exec(ctx, "SELECT 1"); err == nil {
				t.Fatal("the kept pgx.Conn still works after its lease ended")
			}
		})
	}
}

// TestDerivedObjectsKeepLease checks that rows, batch results and
// transactions keep their lease from being proven leaked while they are in
// use, and that a transaction begun on the pool and dropped is proven
// leaked at its Begin.
func TestDerivedObjectsKeepLease(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, nil)

	// Rows of a batch, the batch results dropped.
	rows := func() pgx.Rows {
		b := &pgx.Batch{}
		b.Queue("SELECT generate_series(1, 3)")
		br := p.SendBatch(ctx, b)
		r, err := br.Query()
		if err != nil {
			t.Fatal(err)
		}
		if r.Conn() != nil {
			t.Error("Rows.Conn returned the pool's connection")
		}
		return r
	}()
	runtime.GC()
	runtime.GC()
	n := 0
	for rows.Next() {
		n++
	}
	if rows.Err() != nil || n != 3 || len(ev.Of(poolguard.LeakUnreachable)) != 0 {
		t.Fatalf("batch rows read %d rows, err %v, %d leaks: the lease was taken from them", n, rows.Err(), len(ev.Of(poolguard.LeakUnreachable)))
	}
	rows = nil

	// A transaction begun on the pool, dropped without Commit or Rollback.
	_, _, line, _ := runtime.Caller(0)
	func() {
		if _, err := p.Begin(ctx); err != nil { //leakcheck:ignore dropped without Commit or Rollback: the leak under test
			t.Fatal(err)
		}
	}()
	wait.Until(t, "the dropped transaction proven leaked", func() bool {
		runtime.GC()
		return len(ev.Of(poolguard.LeakUnreachable)) >= 1
	})
	found := false
	for _, e := range ev.Of(poolguard.LeakUnreachable) {
		found = found || strings.HasSuffix(e.CallSite, "compat_test.go:"+strconv.Itoa(line+2))
	}
	if !found {
		t.Errorf("no leak names the Begin at line %d: %v", line+2, ev.Of(poolguard.LeakUnreachable))
	}
	fullSize(t, p)
}
