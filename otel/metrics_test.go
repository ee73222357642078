package otel_test

import (
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/otel"
	"github.com/poolguard/poolguard/pooltest"
)

// newPool returns a test pool with partitions api (2 guaranteed, at most
// 3) and sync (at most 2) of 4 connections, traced by tr.
func newPool(t *testing.T, tr *otel.Tracer, opts ...pooltest.Option) *poolguard.Pool {
	t.Helper()
	return pooltest.New(t, append(opts, pooltest.Configure(func(cfg *poolguard.Config) {
		cfg.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 2, Max: 3}, {Name: "sync", Max: 2}}
		if tr != nil {
			cfg.ConnConfig.Tracer = tr
			cfg.OnLeak = tr.OnLeak(cfg.OnLeak)
		}
	}))...)
}

// register registers p's metrics with a new MeterProvider and returns its
// reader.
func register(t *testing.T, p *poolguard.Pool, opts ...otel.Option) (*sdkmetric.ManualReader, *otel.Registration) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })
	reg, err := otel.Register(p, append([]otel.Option{otel.WithMeterProvider(mp)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// TestInstruments checks every instrument's name, unit and kind against
// the semantic conventions (1.43.0) and poolguard's documented names, and
// that every point carries the pool name and the extra attributes.
func TestInstruments(t *testing.T) {
	p := newPool(t, otel.NewTracer())
	r, _ := register(t, p, otel.WithPoolName("svc"), otel.WithAttributes(attribute.String("service.namespace", "test")))
	ctx := ctxTimeout(t, 30*time.Second)
	if _, err := p.Partition("sync").Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	type kind int
	const (
		upDown kind = iota
		counter
		gauge
		histogram
	)
	want := []struct {
		name, unit string
		kind       kind
		bounds     []time.Duration
	}{
		{"db.client.connection.count", "{connection}", upDown, nil},
		{"db.client.connection.limit", "{connection}", upDown, nil},
		{"db.client.connection.max", "{connection}", upDown, nil},
		{"db.client.connection.idle.max", "{connection}", upDown, nil},
		{"db.client.connection.idle.min", "{connection}", upDown, nil},
		{"db.client.connection.pending_requests", "{request}", upDown, nil},
		{"db.client.connection.timeouts", "{timeout}", counter, nil},
		{"db.client.connection.create_time", "s", histogram, poolguard.OpenTimeBounds},
		{"db.client.connection.wait_time", "s", histogram, poolguard.WaitTimeBounds},
		{"db.client.connection.use_time", "s", histogram, poolguard.UseTimeBounds},
		{"poolguard.leaks", "{leak}", counter, nil},
		{"poolguard.suspected_leaks", "{leak}", counter, nil},
		{"poolguard.suspected_leaks_returned", "{leak}", counter, nil},
		{"poolguard.reclaimed_connections", "{connection}", counter, nil},
		{"poolguard.rejected_acquires", "{request}", counter, nil},
		{"poolguard.acquires", "{request}", counter, nil},
		{"poolguard.waited_acquires", "{request}", counter, nil},
		{"poolguard.connections_opened", "{connection}", counter, nil},
		{"poolguard.connection_open_failures", "{connection}", counter, nil},
		{"poolguard.connections_closed", "{connection}", counter, nil},
		{"poolguard.connections_closed_lifetime", "{connection}", counter, nil},
		{"poolguard.connections_closed_idle", "{connection}", counter, nil},
		{"poolguard.empty_acquires", "{request}", counter, nil},
		{"poolguard.connections_opening", "{connection}", upDown, nil},
		{"poolguard.oldest_lease_age", "s", gauge, nil},
		{"poolguard.suspected_leases", "{lease}", upDown, nil},
		{"poolguard.guaranteed_connections", "{connection}", upDown, nil},
		{"poolguard.borrowed_connections", "{connection}", upDown, nil},
		{"poolguard.max_pending_requests", "{request}", upDown, nil},
		{"poolguard.paused", "{partition}", gauge, nil},
		{"poolguard.pool_max_connections", "{connection}", upDown, nil},
		{"poolguard.pool_connections", "{connection}", upDown, nil},
	}
	ms := collect(t, r)
	if len(ms) != len(want) {
		t.Errorf("%d instruments reported, want %d", len(ms), len(want))
	}
	for _, w := range want {
		m, ok := ms[w.name]
		if !ok {
			t.Errorf("%s: not reported", w.name)
			continue
		}
		if m.Unit != w.unit {
			t.Errorf("%s: unit %q, want %q", w.name, m.Unit, w.unit)
		}
		if m.Description == "" {
			t.Errorf("%s: no description", w.name)
		}
		var sets []attribute.Set
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			if w.kind != upDown && w.kind != counter || d.IsMonotonic != (w.kind == counter) {
				t.Errorf("%s: a sum, monotonic %v; want kind %d", w.name, d.IsMonotonic, w.kind)
			}
			if d.Temporality != metricdata.CumulativeTemporality {
				t.Errorf("%s: temporality %v", w.name, d.Temporality)
			}
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Gauge[int64]:
			if w.kind != gauge {
				t.Errorf("%s: a gauge, want kind %d", w.name, w.kind)
			}
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Gauge[float64]:
			if w.kind != gauge {
				t.Errorf("%s: a gauge, want kind %d", w.name, w.kind)
			}
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Histogram[float64]:
			if w.kind != histogram {
				t.Errorf("%s: a histogram, want kind %d", w.name, w.kind)
			}
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
				var bounds []float64
				for _, b := range w.bounds {
					bounds = append(bounds, b.Seconds())
				}
				if !slices.Equal(p.Bounds, bounds) {
					t.Errorf("%s: bounds %v, want %v", w.name, p.Bounds, bounds)
				}
			}
		default:
			t.Errorf("%s: data %T", w.name, m.Data)
		}
		if len(sets) == 0 {
			t.Errorf("%s: no points", w.name)
		}
		for _, s := range sets {
			a := attrs(s)
			if a["service.namespace"] != "test" {
				t.Errorf("%s%v: no extra attribute", w.name, a)
			}
			pool, part := a["poolguard.pool.name"], a["db.client.connection.pool.name"]
			if w.name == "poolguard.pool_max_connections" || w.name == "poolguard.pool_connections" {
				if pool != "svc" || part != "" {
					t.Errorf("%s%v: want the pool's name alone", w.name, a)
				}
			} else if part != "svc/api" && part != "svc/sync" {
				t.Errorf("%s%v: want db.client.connection.pool.name svc/api or svc/sync", w.name, a)
			}
		}
	}
}

// TestWorkload runs a scripted workload with a deliberate leak and checks
// the values against the pool's own statistics: counts, limits, the leak
// proven and reclaimed, and histograms that saw every acquire, every open
// and every lease's end, the leaked one's included.
func TestWorkload(t *testing.T) {
	p := newPool(t, otel.NewTracer(), pooltest.ExpectLeaks())
	r, _ := register(t, p, otel.WithPoolName("svc"))
	ctx := ctxTimeout(t, 30*time.Second)
	api, sync := map[string]string{"db.client.connection.pool.name": "svc/api"}, map[string]string{"db.client.connection.pool.name": "svc/sync"}
	get := func(ms map[string]metricdata.Metrics, name string, at map[string]string) float64 {
		t.Helper()
		v, ok := value(t, ms, name, at)
		if !ok {
			t.Fatalf("%s%v: no point", name, at)
		}
		return v
	}

	for range 5 {
		if _, err := p.Partition("api").Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	held, err := p.Partition("api").Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	if _, err := p.Partition("sync").Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	leak(ctx, t, p.Partition("sync"))
	wait.Until(t, "the dropped lease is proven a leak and its use time recorded", func() bool {
		gc()
		ms := collect(t, r)
		v, _ := value(t, ms, "poolguard.leaks", with(sync, "poolguard.leak.kind", "unreachable"))
		n, _ := value(t, ms, "db.client.connection.use_time", sync)
		return v == 1 && n == 2
	})

	ms := collect(t, r)
	st := p.Stats()
	for _, ps := range st.Partitions {
		at := map[string]string{"db.client.connection.pool.name": "svc/" + ps.Name}
		checks := []struct {
			name string
			at   map[string]string
			want int64
		}{
			{"db.client.connection.count", with(at, "db.client.connection.state", "used"), int64(ps.InUse)},
			{"db.client.connection.count", with(at, "db.client.connection.state", "idle"), int64(ps.Idle)},
			{"db.client.connection.pending_requests", at, 0},
			{"db.client.connection.idle.min", at, int64(ps.MinConns)},
			{"db.client.connection.timeouts", at, 0},
			{"poolguard.acquires", at, ps.Acquires},
			{"poolguard.connections_opened", at, ps.Opened},
			{"poolguard.connections_closed", at, ps.Closed},
			{"poolguard.guaranteed_connections", at, int64(ps.Guaranteed)},
			{"poolguard.borrowed_connections", at, int64(ps.Borrowed)},
			{"poolguard.max_pending_requests", at, int64(ps.MaxWaiting)},
			{"poolguard.paused", at, 0},
			// Every acquire waited (or not) once, every connection was
			// opened for an acquire, and every lease but the one held
			// ended: the histograms saw what the pool's own did.
			{"db.client.connection.wait_time", at, ps.Acquires},
			{"db.client.connection.create_time", at, ps.Opened},
			{"db.client.connection.use_time", at, ps.Acquires - int64(ps.InUse)},
		}
		for _, c := range checks {
			if got := get(ms, c.name, c.at); got != float64(c.want) {
				t.Errorf("%s%v = %v, want %d", c.name, c.at, got, c.want)
			}
		}
	}
	if got := get(ms, "db.client.connection.count", with(api, "db.client.connection.state", "used")); got != 1 {
		t.Errorf("used on api = %v, want 1: the held lease", got)
	}
	// api: its Max, 3; sync: its Max, 2, which is also what api's
	// guarantee of 2 leaves of 4.
	for _, c := range []struct {
		at   map[string]string
		want float64
	}{{api, 3}, {sync, 2}} {
		for _, name := range []string{"db.client.connection.max", "db.client.connection.idle.max"} {
			if got := get(ms, name, c.at); got != c.want {
				t.Errorf("%s%v = %v, want %v", name, c.at, got, c.want)
			}
		}
	}
	if got := get(ms, "poolguard.reclaimed_connections", with(sync, "poolguard.reclaim.reason", "leak")); got != 1 {
		t.Errorf("reclaimed{leak} on sync = %v, want 1", got)
	}
	if got := get(ms, "poolguard.leaks", with(api, "poolguard.leak.kind", "unreachable")); got != 0 {
		t.Errorf("leaks on api = %v, want 0", got)
	}
	if _, ok := value(t, ms, "poolguard.leaks", with(sync, "poolguard.leak.kind", "suspected")); ok {
		t.Error("poolguard.leaks has a point for suspects; they have poolguard.suspected_leaks")
	}
	if got := get(ms, "poolguard.oldest_lease_age", api); got <= 0 {
		t.Errorf("oldest lease age on api = %v, want > 0", got)
	}
	if got := get(ms, "poolguard.pool_max_connections", map[string]string{"poolguard.pool.name": "svc"}); got != float64(st.MaxConns) {
		t.Errorf("pool max = %v, want %d", got, st.MaxConns)
	}

	// A refused acquire counts as a rejection, and as a timeout.
	if err := p.Partition("sync").Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Partition("sync").Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("acquire on a paused partition succeeded")
	}
	ms = collect(t, r)
	if got := get(ms, "poolguard.rejected_acquires", with(sync, "poolguard.reject.reason", "paused")); got != 1 {
		t.Errorf("rejected{paused} = %v, want 1", got)
	}
	if got := get(ms, "poolguard.paused", sync); got != 1 {
		t.Errorf("paused = %v, want 1", got)
	}
	if err := p.Partition("sync").Resume(); err != nil {
		t.Fatal(err)
	}
}

// TestTwoPools registers two pools with one MeterProvider under different
// names: each point belongs to one pool, with its own values, and
// unregistering one leaves the other.
func TestTwoPools(t *testing.T) {
	trA, trB := otel.NewTracer(), otel.NewTracer()
	a, b := newPool(t, trA), newPool(t, trB)
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })
	regA, err := otel.Register(a, otel.WithMeterProvider(mp), otel.WithPoolName("a"))
	if err != nil {
		t.Fatal(err)
	}
	regB, err := otel.Register(b, otel.WithMeterProvider(mp), otel.WithPoolName("b"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = regB.Unregister() }()
	ctx := ctxTimeout(t, 30*time.Second)
	for range 3 {
		if _, err := a.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	aAPI, bAPI := map[string]string{"db.client.connection.pool.name": "a/api"}, map[string]string{"db.client.connection.pool.name": "b/api"}
	ms := collect(t, r)
	for _, c := range []struct {
		name string
		at   map[string]string
		want float64
	}{
		{"poolguard.acquires", aAPI, 3},
		{"poolguard.acquires", bAPI, 1},
		{"db.client.connection.wait_time", aAPI, 3},
		{"db.client.connection.wait_time", bAPI, 1},
		{"poolguard.pool_max_connections", map[string]string{"poolguard.pool.name": "a"}, 4},
		{"poolguard.pool_max_connections", map[string]string{"poolguard.pool.name": "b"}, 4},
	} {
		if got, ok := value(t, ms, c.name, c.at); !ok || got != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.at, got, ok, c.want)
		}
	}

	if err := regA.Unregister(); err != nil {
		t.Fatal(err)
	}
	if err := regA.Unregister(); err != nil {
		t.Fatalf("second Unregister: %v", err)
	}
	if _, err := a.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	ms = collect(t, r)
	if _, ok := value(t, ms, "poolguard.acquires", aAPI); ok {
		t.Error("pool a still observed after Unregister")
	}
	if got, _ := value(t, ms, "poolguard.acquires", bAPI); got != 2 {
		t.Errorf("pool b's acquires = %v, want 2", got)
	}
	// The histograms are cumulative: a's keep what they had, and no more.
	if got, _ := value(t, ms, "db.client.connection.wait_time", aAPI); got != 3 {
		t.Errorf("pool a's wait_time count = %v after Unregister, want 3 still", got)
	}
	if got, _ := value(t, ms, "db.client.connection.wait_time", bAPI); got != 2 {
		t.Errorf("pool b's wait_time count = %v, want 2", got)
	}
}

// TestNoTracer registers a pool without the Tracer: the observable
// instruments work, and the histograms, which need it, are absent rather
// than empty.
func TestNoTracer(t *testing.T) {
	p := newPool(t, nil)
	r, _ := register(t, p)
	if _, err := p.Exec(ctxTimeout(t, 30*time.Second), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	ms := collect(t, r)
	if got, ok := value(t, ms, "poolguard.acquires", map[string]string{"db.client.connection.pool.name": "poolguard/api"}); !ok || got != 1 {
		t.Errorf("acquires = %v (%v), want 1", got, ok)
	}
	if _, ok := ms["db.client.connection.wait_time"]; ok {
		t.Error("wait_time reported without the Tracer")
	}
}

func TestRegisterErrors(t *testing.T) {
	if _, err := otel.Register(nil); err == nil {
		t.Error("Register(nil) succeeded")
	}
	p := newPool(t, nil)
	if _, err := otel.Register(p, otel.WithPoolName("")); err == nil {
		t.Error("an empty pool name was accepted")
	}
	if _, err := otel.Register(p, otel.WithMeterProvider(nil)); err == nil {
		t.Error("a nil MeterProvider was accepted")
	}
}
