package soak

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
)

// workers is how many goroutines run the workload.
const workers = 12

// partitions are the pool's: "api" has a guarantee, "sync" is bounded
// well below the pool, "batch" borrows what is free.
var partitions = []poolguard.PartitionConfig{
	{Name: "api", Guaranteed: 4, Max: 8},
	{Name: "sync", Guaranteed: 1, Max: 3},
	{Name: "batch", Max: 4},
}

const maxConns = 10

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs for a minute or more")
	}
	srv := pgtemp.New(t, pgtemp.Options{Settings: map[string]string{
		"max_connections": "100",
		// pgtemp turns it off for speed; an immediate shutdown would then
		// lose writes reported committed, the server's doing, not the pool's.
		"synchronous_commit": "on",
	}})
	if srv.External() {
		t.Skip("the soak restarts its server, which it cannot do to an external one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Exec(ctx, schema); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{}
	cfg, err := poolguard.ParseConfig(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = strings.TrimSuffix(appPrefix, "/")
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	cfg.MaxConns = maxConns
	cfg.Partitions = partitions
	cfg.SuspectAfter = 2 * time.Second
	cfg.PingAfterIdle = 100 * time.Millisecond
	cfg.OnLeak = rec.onLeak
	// Thousands of leaks are reported: the events are checked, not logged.
	cfg.Logger = slog.New(slog.DiscardHandler)
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	limits := map[string]int{}
	for _, p := range partitions {
		limits[appPrefix+p.Name] = p.Max
	}
	ledger := newLedger()
	offers := newOffered()
	w := newWorkload(t, pool, ledger, rec, offers)
	stopMonitor, stopChaos, stopWork := make(chan struct{}), make(chan struct{}), make(chan struct{})
	mon := newMonitor(t, srv, pool, limits)
	ch := newChaos(t, srv, pool, rec, offers, stopChaos)
	var monitors, chaosDone, work sync.WaitGroup
	monitors.Go(func() { mon.run(stopMonitor) })
	stopMonitoring := sync.OnceFunc(func() { close(stopMonitor); monitors.Wait() })
	defer stopMonitoring() // also when a check below stops the test
	for range workers {
		work.Go(func() { w.worker(stopWork) })
	}
	// A restart every 12 seconds: four or five in the short soak, about
	// fifty in ten minutes.
	chaosDone.Go(func() { ch.run(min(max(*duration/5, 3*time.Second), 12*time.Second)) })

	start := time.Now()
	t.Logf("soak: %d workers and the chaos goroutine for %v", workers, *duration)
	time.Sleep(*duration)
	// The chaos stops first, leaving the server up and the partitions
	// resumed; then the workload.
	close(stopChaos)
	chaosDone.Wait()
	close(stopWork)
	work.Wait()
	ran := time.Since(start)

	quiesce(t, pool, srv, rec)
	stopMonitoring()

	lf, problems := rec.check()
	for _, p := range problems {
		t.Error(p)
	}
	if got, want := sumReclaimed(pool, poolguard.ReclaimRevoked), int64(rec.revokeCount()); got != want {
		t.Errorf("the pool counts %d revocations, Pool.Revoke reported %d", got, want)
	}

	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := connect(ctx, srv, "soak-check")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	lg, problems := ledger.check(ctx, conn)
	for _, p := range problems {
		t.Error(p)
	}

	// Everything was released: Close has nothing to revoke.
	before := rec.provenCount()
	pool.Close()
	if n := rec.provenCount() - before; n != 0 {
		t.Errorf("Close reported %d leases still held", n)
	}

	t.Log(summary(ran, w, ch, mon, lf, lg))
}

// quiesce waits, once the workload and the chaos have stopped, until
// every lease has ended and the pool's connections agree with the
// server's, and checks that nobody is left waiting.
func quiesce(t *testing.T, pool *poolguard.Pool, srv *pgtemp.Server, rec *recorder) {
	t.Helper()
	// Dropped leases are proven at a garbage collection.
	wait.Until(t, "every lease has ended", func() bool {
		runtime.GC()
		return len(pool.Leases()) == 0
	})
	wait.Until(t, "the events of every proven leak have been delivered", func() bool {
		return int64(rec.provenCount()) == pool.Stats().Total().LeaksProven()
	})
	for _, ps := range pool.Stats().Partitions {
		if ps.InUse != 0 || ps.Waiting != 0 {
			t.Errorf("partition %q after the workload: %d in use, %d waiting; want none", ps.Name, ps.InUse, ps.Waiting)
		}
	}
	// The chaos may have terminated idle backends just before it stopped:
	// a ping finds each one dead, and its connection is closed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, pt := range pool.Partitions() {
		for _, c := range pt.AcquireAllIdle(ctx) {
			_ = c.Ping(ctx)
			c.Release()
		}
	}
	var server int
	var st poolguard.Stats
	wait.Until(t, "the server holds exactly the pool's idle connections", func() bool {
		st = pool.Stats()
		n, err := count(ctx, srv)
		if err != nil {
			return false
		}
		server = n
		tot := st.Total()
		return tot.InUse == 0 && tot.Opening == 0 && st.TotalConns == tot.Idle && server == tot.Idle
	})
	t.Logf("soak: quiesced with %d idle connections, %d on the server", st.Total().Idle, server)
}

func sumReclaimed(pool *poolguard.Pool, r poolguard.ReclaimReason) int64 {
	return pool.Stats().Total().Reclaimed.Of(r)
}

// summary formats the soak's figures.
func summary(ran time.Duration, w *workload, ch *chaos, mon *monitor, lf leakFigures, lg ledgerFigures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "soak: ran %v on %d CPUs, load average %s\n", ran.Round(time.Second), runtime.NumCPU(), loadAverage())
	var ok, failed int64
	fmt.Fprintf(&b, "operations (ok/failed):")
	for _, op := range ops {
		c := w.ops[op.kind]
		ok += c.ok.Load()
		failed += c.failed.Load()
		fmt.Fprintf(&b, " %s %d/%d", op.kind, c.ok.Load(), c.failed.Load())
	}
	fmt.Fprintf(&b, "; total %d/%d\n", ok, failed)
	fmt.Fprintf(&b, "contexts ended early by the workload: %s %d, %s %d; deliberate panics recovered %d\n",
		ctxDeadline, w.ctxs[ctxDeadline].ok.Load(), ctxCancel, w.ctxs[ctxCancel].ok.Load(), w.panics.Load())
	fmt.Fprintf(&b, "faults injected:")
	for _, k := range faultKinds {
		fmt.Fprintf(&b, " %s %d", k, ch.faults[k].ok.Load())
	}
	fmt.Fprintf(&b, "\nrestarts survived: %d\n", ch.restarts.Load())
	fmt.Fprintf(&b, "leaks (made/proven/revoked):")
	for _, k := range leakKinds {
		fmt.Fprintf(&b, " %s %d/%d/%d", k, lf.made[k], lf.proven[k], lf.revoked[k])
	}
	fmt.Fprintf(&b, "; proven leak events %d, false proofs %d, suspects reported %d\n", lf.provenEvents, lf.falseProofs, lf.suspected)
	fmt.Fprintf(&b, "ledger: %d rows checked; writes committed %d, failed %d, unknown %d (%d applied, %d not)\n",
		lg.rows, lg.committed, lg.failed, lg.unknown, lg.unknownPresent, lg.unknownAbsent)
	mon.mu.Lock()
	fmt.Fprintf(&b, "server connections of the pool: %d samples, peak %d of %d; peaks by partition %v; brief excesses %d, confirmed %d",
		mon.samples, mon.peak, mon.maxConns, mon.peakPart, mon.transient, mon.confirmed)
	mon.mu.Unlock()
	return b.String()
}

// loadAverage returns the machine's load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
