package poolguard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
)

var errValidation = errors.New("validation failed")

// acquireLine is set by syncUserData to the line of its Acquire.
var acquireLine int

// syncUserData is the outage's job in Go: on a validation error it returns
// without releasing its connection.
func syncUserData(ctx context.Context, p *poolguard.Partition, id int) error {
	_, _, line, _ := runtime.Caller(0)
	acquireLine = line + 2
	conn, err := p.Acquire(ctx) //leakcheck:ignore the outage's bug, reproduced on purpose
	if err != nil {
		return err
	}
	var email string
	if err := conn.QueryRow(ctx, "SELECT $1::text", fmt.Sprint("user", id)).Scan(&email); err != nil {
		conn.Release()
		return err
	}
	if id%2 == 0 {
		return errValidation // leaked: no Release on this path
	}
	conn.Release()
	return nil
}

func TestOutageLeakReportedAndReclaimed(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 2}, {Name: "sync", Max: 2}}
	})
	sync := p.Partition("sync")
	for id := 1; id <= 4; id++ {
		if err := syncUserData(ctx, sync, id); err != nil && !errors.Is(err, errValidation) {
			t.Fatal(err)
		}
	}
	if got := sync.Stats().InUse; got != 2 {
		t.Fatalf("sync in use after the job = %d, want the 2 leaked", got)
	}

	runtime.GC()
	wait.Until(t, "both leaks are proven", func() bool { return len(ev.Of(poolguard.LeakUnreachable)) == 2 })
	for _, e := range ev.Of(poolguard.LeakUnreachable) {
		want := fmt.Sprintf("leak_test.go:%d", acquireLine)
		if !strings.HasSuffix(e.CallSite, want) || e.Partition != "sync" || !strings.HasSuffix(e.Function, ".syncUserData") {
			t.Errorf("leak event names %s in %s on %q, want %s in syncUserData on \"sync\"", e.CallSite, e.Function, e.Partition, want)
		}
		if e.Stack[0].Line != acquireLine || e.PID == 0 || e.Age <= 0 {
			t.Errorf("leak event stack/PID/age wrong: %+v", e)
		}
	}
	st := sync.Stats()
	if len(st.LeakSites) != 1 || !strings.HasSuffix(st.LeakSites[0].CallSite, fmt.Sprintf("leak_test.go:%d", acquireLine)) ||
		st.LeakSites[0].Leaks.Of(poolguard.LeakUnreachable) != 2 {
		t.Errorf("leaks by call site %+v, want 2 at the acquire of syncUserData", st.LeakSites)
	}
	if st.InUse != 0 || st.Leaks.Of(poolguard.LeakUnreachable) != 2 || st.Reclaimed.Of(poolguard.ReclaimLeak) != 2 {
		t.Fatalf("after reclamation: in use %d, leaks %d, reclaimed %d; want 0, 2, 2",
			st.InUse, st.Leaks.Of(poolguard.LeakUnreachable), st.Reclaimed.Of(poolguard.ReclaimLeak))
	}
	fullSize(t, p)
}

// leakOne acquires and drops the connection.
func leakOne(ctx context.Context, t *testing.T, p *poolguard.Pool) uint32 {
	c, err := p.Acquire(ctx) //leakcheck:ignore leaked on purpose
	if err != nil {
		t.Fatal(err)
	}
	return c.PID()
}

func TestGCProvenLeakDestroysConnection(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, nil)
	pid := leakOne(ctx, t, p)
	if ls := p.Leases(); len(ls) != 1 || ls[0].PID != pid || !strings.HasSuffix(ls[0].Function, "leakOne") {
		t.Fatalf("Leases = %+v, want one held by leakOne on backend %d", ls, pid)
	}
	runtime.GC()
	wait.Until(t, "the leak is proven", func() bool { return len(ev.Of(poolguard.LeakUnreachable)) == 1 })
	// The leaked connection is destroyed, never reused: its backend exits.
	wait.Until(t, "the leaked backend exits", func() bool { return !backendAlive(t, pid) })
	fullSize(t, p)
}

func TestSuspectWarnedOnceThenReturned(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, func(c *poolguard.Config) { c.SuspectAfter = 50 * time.Millisecond })
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the lease is suspected", func() bool { return len(ev.Of(poolguard.LeakSuspected)) == 1 })
	time.Sleep(100 * time.Millisecond) // several more scans: still one warning
	if n := len(ev.Of(poolguard.LeakSuspected)); n != 1 {
		t.Fatalf("suspect reported %d times, want once", n)
	}
	if ls := p.Leases(); !ls[0].Suspected {
		t.Error("lease not marked suspected")
	}
	if n := p.Stats().Total().Suspected; n != 1 {
		t.Errorf("Stats counts %d suspected leases held, want 1", n)
	}
	c.Release()
	wait.Until(t, "the return is noted", func() bool { return len(ev.Of(poolguard.LeakSuspectReturned)) == 1 })
	if n := p.Stats().Total().Suspected; n != 0 {
		t.Errorf("Stats counts %d suspected leases after the release, want 0", n)
	}
	if e := ev.Of(poolguard.LeakSuspected)[0]; !strings.Contains(e.CallSite, "leak_test.go:") {
		t.Errorf("suspect call site = %q", e.CallSite)
	}
}

func TestSuspectNotRaisedWhileQueryInFlight(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, func(c *poolguard.Config) { c.SuspectAfter = 20 * time.Millisecond })
	err := p.With(ctx, func(c *poolguard.Conn) error {
		_, err := c.Exec(ctx, "SELECT pg_sleep(0.3)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ev.Of(poolguard.LeakSuspected)); n != 0 {
		t.Fatalf("a lease busy in a query was suspected %d times", n)
	}
}

// Rows left open keep the connection busy, but the holder, not a
// statement, keeps it so: the outage's early return with rows unclosed must
// still become a suspect.
func TestSuspectRaisedWhileResultsLeftOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(ctx context.Context, c *poolguard.Conn) (io.Closer, error)
	}{
		{"rows", func(ctx context.Context, c *poolguard.Conn) (io.Closer, error) {
			r, err := c.Query(ctx, "SELECT generate_series(1, 3)")
			return closerFunc(func() error { r.Close(); return r.Err() }), err
		}},
		{"batch", func(ctx context.Context, c *poolguard.Conn) (io.Closer, error) {
			b := &pgx.Batch{}
			b.Queue("SELECT 1")
			return c.SendBatch(ctx, b), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxTimeout(t, 30*time.Second)
			p, ev := newPool(t, nil, func(c *poolguard.Config) { c.SuspectAfter = 50 * time.Millisecond })
			c, err := p.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := tc.open(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			wait.Until(t, "the lease is suspected", func() bool { return len(ev.Of(poolguard.LeakSuspected)) == 1 })
			if err := res.Close(); err != nil {
				t.Fatal(err)
			}
			c.Release()
			wait.Until(t, "the suspect is returned", func() bool { return len(ev.Of(poolguard.LeakSuspectReturned)) == 1 })
			fullSize(t, p)
		})
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestMaxHoldRevokesIdleLease(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, func(c *poolguard.Config) { c.MaxHold = 100 * time.Millisecond })
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.PID()
	wait.Until(t, "the lease is revoked", func() bool { return p.Stats().Total().Reclaimed.Of(poolguard.ReclaimMaxHold) == 1 })
	if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Fatalf("Exec after revocation: %v, want ErrLeaseRevoked", err)
	}
	wait.Until(t, "the backend exits", func() bool { return !backendAlive(t, pid) })
	if len(ev.Of(poolguard.LeakMaxHold)) != 1 {
		t.Error("no max_hold event")
	}
	c.Release() // harmless after revocation
	fullSize(t, p)
}

func TestMaxHoldCancelsQueryInFlight(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxHold = 200 * time.Millisecond })
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.PID()
	start := time.Now()
	_, err = c.Exec(ctx, "SELECT pg_sleep(30)")
	if !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Fatalf("Exec revoked in flight: %v, want ErrLeaseRevoked", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("revocation took %s: the query was not cancelled", d)
	}
	wait.Until(t, "the backend leaves pg_stat_activity", func() bool { return !backendAlive(t, pid) })
	if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Fatalf("later Exec: %v, want ErrLeaseRevoked", err)
	}
	c.Release()
	fullSize(t, p)
}

func TestScopeEscape(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, nil)

	var escaped *poolguard.Conn
	if err := p.With(ctx, func(c *poolguard.Conn) error { escaped = c; return nil }); err != nil {
		t.Fatal(err)
	}
	// The slot serves another holder while the escaped Conn is used: the
	// report must name the use, not read the other holder's lease.
	other, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	_, _, useLine, _ := runtime.Caller(0)
	if _, err := escaped.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrReleased) {
		t.Fatalf("use after With: %v, want ErrReleased", err)
	}
	wait.Until(t, "the escape is reported", func() bool { return len(ev.Of(poolguard.LeakScopeEscaped)) == 1 })
	if e := ev.Of(poolguard.LeakScopeEscaped)[0]; !strings.HasSuffix(e.CallSite, fmt.Sprintf("leak_test.go:%d", useLine+1)) || e.Age != 0 {
		t.Errorf("escape reported at %s, age %v; want the use at line %d, no age", e.CallSite, e.Age, useLine+1)
	}
	other.Release()

	// A goroutine still running a query when the scope ends: the lease is
	// taken back and its query cancelled.
	var wg sync.WaitGroup
	var inflight error
	started := make(chan struct{})
	err = p.With(ctx, func(c *poolguard.Conn) error {
		wg.Add(1)
		go func() {
			defer wg.Done()
			close(started)
			_, inflight = c.Exec(ctx, "SELECT pg_sleep(30)")
		}()
		<-started
		wait.Until(t, "the query is in flight", func() bool { return p.Leases()[0].State == poolguard.LeaseActive })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if !errors.Is(inflight, poolguard.ErrLeaseRevoked) {
		t.Fatalf("query that outlived its scope: %v, want ErrLeaseRevoked", inflight)
	}
	wait.Until(t, "the second escape is reported", func() bool { return len(ev.Of(poolguard.LeakScopeEscaped)) == 2 })
	fullSize(t, p)
}

func TestCloseWithLeakedLeasesIsBounded(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, nil)
	c, err := p.Acquire(ctx) //leakcheck:ignore held on purpose, for Close to reclaim
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close blocked on a leaked lease")
	}
	if got := ev.Of(poolguard.LeakOpenAtClose); len(got) != 1 || !strings.Contains(got[0].CallSite, "leak_test.go:") {
		t.Fatalf("open-at-close events = %+v, want one naming this file", got)
	}
	if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Fatalf("Exec after Close: %v, want ErrLeaseRevoked", err)
	}
	if _, err := p.Acquire(ctx); !errors.Is(err, poolguard.ErrClosed) {
		t.Fatalf("Acquire after Close: %v, want ErrClosed", err)
	}
}

func TestReleaseIsIdempotentAndUseAfterReleaseFails(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 1 })
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	c.Release()
	// The connection now belongs to someone else: the stale handle must not
	// reach it.
	c2, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Release()
	if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrReleased) {
		t.Fatalf("Exec on a released handle: %v, want ErrReleased", err)
	}
	c.Release() // must not release c2's lease
	if _, err := c2.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("the new holder lost its lease to a stale Release: %v", err)
	}
}

func TestCallSiteOfAGoroutineStartedOnThePool(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, nil)
	go p.Exec(ctx, "SELECT pg_sleep(0.3)") // only its lease is looked at
	wait.Until(t, "the lease is held", func() bool { return len(p.Leases()) == 1 })
	ls := p.Leases()
	if len(ls) == 1 && (ls[0].CallSite == "unknown" || ls[0].CallSite == "") {
		t.Errorf("call site of a lease taken by go pool.Exec(...) = %q, want the nearest frame", ls[0].CallSite)
	}
	wait.Until(t, "the lease is released", func() bool { return len(p.Leases()) == 0 })
}
