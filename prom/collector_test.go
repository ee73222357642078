package prom_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pooltest"
	"github.com/poolguard/poolguard/prom"
)

// partitioned configures a pool of 4 with an API partition guaranteed 2 of
// its at most 3, and a sync partition of at most 3, which the API's
// guarantee limits to 2.
func partitioned(cfg *poolguard.Config) {
	cfg.Partitions = []poolguard.PartitionConfig{
		{Name: "api", Guaranteed: 2, Max: 3, MinConns: 1},
		{Name: "sync", Max: 3},
	}
}

func TestLint(t *testing.T) {
	p := pooltest.New(t, pooltest.Configure(partitioned))
	c := newCollector(t, p)
	if err := p.With(ctxTimeout(t, 30*time.Second), func(*poolguard.Conn) error { return nil }); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		// The semantic conventions name this gauge; its suffix is the
		// only departure from Prometheus's naming rules.
		if pr.Metric == "db_client_connection_count" && strings.Contains(pr.Text, `"_count" suffix`) {
			continue
		}
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}
	if n := testutil.CollectAndCount(c); n == 0 {
		t.Error("the collector exported nothing")
	}
}

func TestGauges(t *testing.T) {
	p := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) {
		partitioned(cfg)
		cfg.HealthCheckPeriod = time.Hour // no upkeep during the test but the first
	}))
	c := newCollector(t, p, prom.WithPoolName("userapi"))
	ctx := ctxTimeout(t, 30*time.Second)
	idle := map[string]string{"db_client_connection_pool_name": "userapi/api", "db_client_connection_state": "idle"}
	wait.Until(t, "the pool opens the API partition's MinConns", func() bool {
		return value(t, c, "db_client_connection_count", idle) == 1
	})
	for _, name := range []string{"api", "sync"} {
		conn, err := p.Partition(name).Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
	}
	if err := p.Partition("sync").Pause(); err != nil {
		t.Fatal(err)
	}

	const want = `
# HELP db_client_connection_count The number of connections that are currently in state described by the state attribute.
# TYPE db_client_connection_count gauge
db_client_connection_count{db_client_connection_pool_name="userapi/api",db_client_connection_state="idle"} 0
db_client_connection_count{db_client_connection_pool_name="userapi/api",db_client_connection_state="used"} 1
db_client_connection_count{db_client_connection_pool_name="userapi/sync",db_client_connection_state="idle"} 0
db_client_connection_count{db_client_connection_pool_name="userapi/sync",db_client_connection_state="used"} 1
# HELP db_client_connection_limit The maximum number of open connections allowed.
# TYPE db_client_connection_limit gauge
db_client_connection_limit{db_client_connection_pool_name="userapi/api"} 3
db_client_connection_limit{db_client_connection_pool_name="userapi/sync"} 2
# HELP db_client_connection_max Deprecated: use db_client_connection_limit. The maximum number of open connections allowed.
# TYPE db_client_connection_max gauge
db_client_connection_max{db_client_connection_pool_name="userapi/api"} 3
db_client_connection_max{db_client_connection_pool_name="userapi/sync"} 2
# HELP db_client_connection_idle_min The minimum number of idle open connections allowed.
# TYPE db_client_connection_idle_min gauge
db_client_connection_idle_min{db_client_connection_pool_name="userapi/api"} 1
db_client_connection_idle_min{db_client_connection_pool_name="userapi/sync"} 0
# HELP db_client_connection_pending_requests The number of current pending requests for an open connection.
# TYPE db_client_connection_pending_requests gauge
db_client_connection_pending_requests{db_client_connection_pool_name="userapi/api"} 0
db_client_connection_pending_requests{db_client_connection_pool_name="userapi/sync"} 0
# HELP poolguard_guaranteed_connections Connections reserved for the partition.
# TYPE poolguard_guaranteed_connections gauge
poolguard_guaranteed_connections{db_client_connection_pool_name="userapi/api"} 2
poolguard_guaranteed_connections{db_client_connection_pool_name="userapi/sync"} 0
# HELP poolguard_borrowed_connections Leases held beyond the partition's guarantee.
# TYPE poolguard_borrowed_connections gauge
poolguard_borrowed_connections{db_client_connection_pool_name="userapi/api"} 0
poolguard_borrowed_connections{db_client_connection_pool_name="userapi/sync"} 1
# HELP poolguard_paused 1 if the partition is paused: its acquires are refused.
# TYPE poolguard_paused gauge
poolguard_paused{db_client_connection_pool_name="userapi/api"} 0
poolguard_paused{db_client_connection_pool_name="userapi/sync"} 1
# HELP poolguard_pool_max_connections The pool's hard cap on connections, over all partitions.
# TYPE poolguard_pool_max_connections gauge
poolguard_pool_max_connections{db_client_connection_pool_name="userapi"} 4
`
	names := []string{
		"db_client_connection_count", "db_client_connection_limit", "db_client_connection_max", "db_client_connection_idle_min",
		"db_client_connection_pending_requests", "poolguard_guaranteed_connections",
		"poolguard_borrowed_connections", "poolguard_paused", "poolguard_pool_max_connections",
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

// TestLeakVisible shows both kinds of leak in the metrics: a lease whose
// handle was dropped without Release (proven, reclaimed) and a lease that
// is still held, idle, past SuspectAfter (suspected, and ageing).
func TestLeakVisible(t *testing.T) {
	p := pooltest.New(t, pooltest.ExpectLeaks(), pooltest.Configure(func(cfg *poolguard.Config) { cfg.SuspectAfter = 50 * time.Millisecond }))
	c := newCollector(t, p)
	ctx := ctxTimeout(t, 30*time.Second)
	def := map[string]string{"db_client_connection_pool_name": "poolguard/default"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range def {
			m[k] = v
		}
		return m
	}

	held, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	leak(t, p)

	wait.Until(t, "the dropped lease is proven a leak", func() bool {
		runtime.GC()
		return value(t, c, "poolguard_leaks_total", with("kind", "unreachable")) == 1
	})
	if got := value(t, c, "poolguard_reclaimed_connections_total", with("reason", "leak")); got != 1 {
		t.Errorf("reclaimed{reason=leak} = %v, want 1", got)
	}
	wait.Until(t, "the held lease is suspected", func() bool {
		return value(t, c, "poolguard_suspected_leaks_total", def) == 1
	})
	if got := value(t, c, "db_client_connection_count", with("db_client_connection_state", "used")); got != 1 {
		t.Errorf("used = %v, want 1: only the held lease", got)
	}
	if got := value(t, c, "poolguard_oldest_lease_age_seconds", def); got <= 0 {
		t.Errorf("oldest lease age = %v, want > 0", got)
	}
	for _, k := range []string{"scope_escaped", "max_hold", "open_at_close"} {
		if got := value(t, c, "poolguard_leaks_total", with("kind", k)); got != 0 {
			t.Errorf("leaks{kind=%s} = %v, want 0", k, got)
		}
	}
}

// leak acquires a connection and drops its handle without releasing it.
//
//go:noinline
func leak(t *testing.T, p *poolguard.Pool) {
	c, err := p.Acquire(ctxTimeout(t, 30*time.Second)) //leakcheck:ignore leaked on purpose, for the metrics to show
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

func TestRejections(t *testing.T) {
	p := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) { cfg.MaxConns = 1 }))
	c := newCollector(t, p)
	def := map[string]string{"db_client_connection_pool_name": "poolguard/default"}
	reason := func(r string) map[string]string {
		return map[string]string{"db_client_connection_pool_name": "poolguard/default", "reason": r}
	}

	conn, err := p.Acquire(ctxTimeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The only connection is held: a short deadline runs out, in the queue
	// or before it.
	if _, err := p.Acquire(ctxTimeout(t, 20*time.Millisecond)); !errors.Is(err, poolguard.ErrAcquireTimeout) {
		t.Fatalf("acquire on a full pool: got %v, want ErrAcquireTimeout", err)
	}
	if got := value(t, c, "db_client_connection_timeouts_total", def); got != 1 {
		t.Errorf("timeouts = %v, want 1", got)
	}
	if got := value(t, c, "poolguard_rejected_acquires_total", reason("timeout")) +
		value(t, c, "poolguard_rejected_acquires_total", reason("deadline")); got != 1 {
		t.Errorf("rejected{reason=timeout|deadline} = %v, want 1", got)
	}

	if err := p.Partition(poolguard.DefaultPartition).Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Acquire(ctxTimeout(t, 30*time.Second)); !errors.Is(err, poolguard.ErrPaused) {
		t.Fatalf("acquire on a paused partition: got %v, want ErrPaused", err)
	}
	if got := value(t, c, "poolguard_rejected_acquires_total", reason("paused")); got != 1 {
		t.Errorf("rejected{reason=paused} = %v, want 1", got)
	}
	if got := value(t, c, "poolguard_paused", def); got != 1 {
		t.Errorf("paused = %v, want 1", got)
	}
}

func TestHistograms(t *testing.T) {
	p := pooltest.New(t)
	c := newCollector(t, p)
	ctx := ctxTimeout(t, 30*time.Second)
	const n = 5
	for range n {
		if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	mfs := gather(t, c)
	def := map[string]string{"db_client_connection_pool_name": "poolguard/default"}
	for _, h := range []struct {
		name   string
		bounds []time.Duration
		count  uint64
	}{
		{"db_client_connection_wait_time_seconds", poolguard.WaitTimeBounds, n},
		{"db_client_connection_use_time_seconds", poolguard.UseTimeBounds, n},
		{"db_client_connection_create_time_seconds", poolguard.OpenTimeBounds, 1},
	} {
		m := metric(t, mfs, h.name, def).GetHistogram()
		if m.GetSampleCount() != h.count {
			t.Errorf("%s: count %d, want %d", h.name, m.GetSampleCount(), h.count)
		}
		if h.name != "db_client_connection_wait_time_seconds" && m.GetSampleSum() <= 0 {
			t.Errorf("%s: sum %v, want > 0", h.name, m.GetSampleSum())
		}
		bs := m.GetBucket()
		if len(bs) != len(h.bounds) {
			t.Fatalf("%s: %d buckets, want %d", h.name, len(bs), len(h.bounds))
		}
		for i, b := range bs {
			if b.GetUpperBound() != h.bounds[i].Seconds() {
				t.Errorf("%s: bucket %d bound %v, want %v", h.name, i, b.GetUpperBound(), h.bounds[i].Seconds())
			}
			if i > 0 && b.GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
				t.Errorf("%s: bucket counts not cumulative", h.name)
			}
		}
		if last := bs[len(bs)-1].GetCumulativeCount(); last > h.count {
			t.Errorf("%s: last bucket %d exceeds the count %d", h.name, last, h.count)
		}
	}
}

// TestCollectDoesNotBlockAcquire parks a collection in the middle of
// sending its metrics, as a slow scrape would, and shows that the pool
// still serves acquires and snapshots meanwhile: Collect holds nothing of
// the pool's while it sends.
func TestCollectDoesNotBlockAcquire(t *testing.T) {
	p := pooltest.New(t, pooltest.Configure(partitioned))
	c := newCollector(t, p)
	ch := make(chan prometheus.Metric) // unbuffered: Collect waits for each read
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	<-ch // Collect is now blocked sending its second metric.

	ctx := ctxTimeout(t, 30*time.Second)
	for _, name := range []string{"api", "sync"} {
		if err := p.Partition(name).With(ctx, func(conn *poolguard.Conn) error {
			_, err := conn.Exec(ctx, "SELECT 1")
			return err
		}); err != nil {
			t.Fatalf("acquire on %s while a collection is in progress: %v", name, err)
		}
	}
	if got := p.Stats().Total().Acquires; got != 2 {
		t.Errorf("acquires = %d, want 2", got)
	}

	for range ch { // let the collection finish
	}
}

func TestNewCollectorErrors(t *testing.T) {
	p := pooltest.New(t)
	for _, tc := range []struct {
		name string
		pool *poolguard.Pool
		opts []prom.Option
		want string
	}{
		{"nil pool", nil, nil, "needs a pool"},
		{"empty name", p, []prom.Option{prom.WithPoolName("")}, "must be non-empty"},
		{"bad UTF-8", p, []prom.Option{prom.WithPoolName("a\xff")}, "UTF-8"},
	} {
		c, err := prom.NewCollector(tc.pool, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, %v; want an error containing %q", tc.name, c, err, tc.want)
		}
	}
}

// TestInvalidPartitionName checks that a partition name Prometheus cannot
// carry fails the scrape with an error rather than a panic.
func TestInvalidPartitionName(t *testing.T) {
	p := pooltest.New(t, pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.Partitions = []poolguard.PartitionConfig{{Name: "bad\xff"}}
	}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(t, p))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("gather: got %v, want an error about UTF-8", err)
	}
}

// TestTwoPools registers the collectors of two pools in one registry, as
// the package documentation says to.
func TestTwoPools(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, name := range []string{"primary", "replica"} {
		c := newCollector(t, pooltest.New(t), prom.WithPoolName(name))
		if err := prometheus.WrapRegistererWith(prometheus.Labels{"db": name}, reg).Register(c); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "db_client_connection_max" && len(mf.GetMetric()) != 2 {
			t.Errorf("db_client_connection_max: %d series, want one per pool", len(mf.GetMetric()))
		}
	}
}

// TestSeveralPools registers two pools' collectors in one registry, one
// with constant labels, and checks that each pool's series are told apart
// by one label, on pool-wide and partition series alike.
func TestSeveralPools(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := newCollector(t, pooltest.New(t), prom.WithPoolName("api"))
	b := newCollector(t, pooltest.New(t, pooltest.Configure(partitioned)), prom.WithPoolName("jobs"),
		prom.WithConstLabels(prometheus.Labels{"service": "userapi"}))
	for _, c := range []prometheus.Collector{a, b} {
		if err := reg.Register(c); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	pools := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var pool, service string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "db_client_connection_pool_name":
					pool = l.GetValue()
				case "service":
					service = l.GetValue()
				}
			}
			if pool == "" {
				t.Fatalf("%s has no pool name label", mf.GetName())
			}
			if strings.HasPrefix(pool, "jobs") != (service == "userapi") {
				t.Errorf("%s{pool %q} has service %q: constant labels on the wrong pool", mf.GetName(), pool, service)
			}
			pools[pool] = true
		}
	}
	for _, want := range []string{"api", "api/default", "jobs", "jobs/api", "jobs/sync"} {
		if !pools[want] {
			t.Errorf("no series for pool %q; have %v", want, pools)
		}
	}
	if _, err := prom.NewCollector(pooltest.New(t), prom.WithConstLabels(prometheus.Labels{"db_client_connection_pool_name": "x"})); err == nil {
		t.Error("a constant label that is one of the collector's own was accepted")
	}
}
