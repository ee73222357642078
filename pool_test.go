package poolguard_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/pooltest"
)

// hold acquires n connections from pt and returns a function releasing them.
func hold(t *testing.T, ctx context.Context, pt *poolguard.Partition, n int) func() {
	t.Helper()
	var cs []*poolguard.Conn
	for range n {
		c, err := pt.Acquire(ctx)
		if err != nil {
			t.Fatalf("acquire %d of %d on %q: %v", len(cs)+1, n, pt.Name(), err)
		}
		cs = append(cs, c)
	}
	return func() {
		for _, c := range cs {
			c.Release()
		}
	}
}

func TestPartitionCannotTakeAnothersGuarantee(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	// sync could hold every connection by its Max, but two are the API's.
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 2}, {Name: "sync", Max: 4}}
	})
	api, sync := p.Partition("api"), p.Partition("sync")
	releaseSync := hold(t, ctx, sync, 2)
	defer releaseSync()

	short := ctxTimeout(t, 100*time.Millisecond)
	_, err := sync.Acquire(short)
	var ae *poolguard.AcquireError
	if !errors.As(err, &ae) || !errors.Is(err, poolguard.ErrAcquireTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third sync acquire: %v, want an *AcquireError matching ErrAcquireTimeout", err)
	}
	if ae.Partition != "sync" || ae.InUse != 2 || len(ae.Holders) != 1 || ae.Holders[0].Count != 2 ||
		!strings.Contains(ae.Error(), "pool_test.go:") {
		t.Fatalf("timeout error does not name the holders: %v", err)
	}

	// The API still gets its guarantee at once, with no wait.
	releaseAPI := hold(t, ctxTimeout(t, time.Second), api, 2)
	releaseAPI()
	if st := api.Stats(); st.WaitedAcquires != 0 {
		t.Fatalf("api waited %d times for its guarantee", st.WaitedAcquires)
	}
	// Once sync lets go, the API may borrow beyond its guarantee.
	releaseSync()
	hold(t, ctxTimeout(t, time.Second), api, 4)()
}

func TestApplicationNamePerPartition(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.ConnConfig.RuntimeParams["application_name"] = "userapi"
		c.Partitions = []poolguard.PartitionConfig{{Name: "api"}, {Name: "sync", ApplicationName: "nightly-sync"}}
	})
	for name, want := range map[string]string{"api": "userapi/api", "sync": "nightly-sync"} {
		err := p.Partition(name).With(ctx, func(c *poolguard.Conn) error {
			var got string
			if err := c.QueryRow(ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&got); err != nil {
				return err
			}
			if got != want {
				t.Errorf("partition %s: application_name %q, want %q", name, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestFIFOWithinPartition(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 1 })
	release := hold(t, ctx, p.Partition(poolguard.DefaultPartition), 1)

	const n = 6
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.With(ctx, func(*poolguard.Conn) error {
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
		wait.Until(t, "the waiter queues", func() bool { return p.Stats().Total().Waiting == i+1 })
	}
	release()
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v, want arrival order", order)
		}
	}
}

func TestRefusals(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 1; c.MaxWaiting = 1 })
	def := p.Partition(poolguard.DefaultPartition)
	release := hold(t, ctx, def, 1)
	defer release()

	// A deadline already passed: refused at once, without queueing.
	past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, err := p.Acquire(past)
	var ae *poolguard.AcquireError
	if !errors.Is(err, poolguard.ErrAcquireTimeout) || !errors.As(err, &ae) || ae.Waited != 0 {
		t.Fatalf("passed deadline: %v, want an immediate ErrAcquireTimeout", err)
	}

	// One waiter fills the queue; the next is refused.
	waiting := make(chan error)
	go func() {
		_, err := p.Acquire(ctxTimeout(t, 10*time.Second)) //leakcheck:ignore this waiter is failed by Pause
		waiting <- err
	}()
	wait.Until(t, "one caller waits", func() bool { return def.Stats().Waiting == 1 })
	if _, err := p.Acquire(ctx); !errors.Is(err, poolguard.ErrQueueFull) {
		t.Fatalf("second waiter: %v, want ErrQueueFull", err)
	}

	// Pausing fails the waiter and new callers.
	if err := def.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, poolguard.ErrPaused) {
		t.Fatalf("waiter of a paused partition: %v, want ErrPaused", err)
	}
	if _, err := p.Acquire(ctx); !errors.Is(err, poolguard.ErrPaused) {
		t.Fatalf("acquire while paused: %v, want ErrPaused", err)
	}
	if err := def.Resume(); err != nil {
		t.Fatal(err)
	}

	// A cancelled waiter leaves the queue at once.
	cctx, cancelWait := context.WithCancel(ctx)
	go func() {
		_, err := p.Acquire(cctx) //leakcheck:ignore this waiter is cancelled
		waiting <- err
	}()
	wait.Until(t, "one caller waits", func() bool { return def.Stats().Waiting == 1 })
	cancelWait()
	if err := <-waiting; !errors.Is(err, context.Canceled) || errors.Is(err, poolguard.ErrAcquireTimeout) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	if w := def.Stats().Waiting; w != 0 {
		t.Fatalf("cancelled waiter still queued: %d waiting", w)
	}

	st := def.Stats().Rejected
	want := map[poolguard.RejectReason]int64{poolguard.RejectDeadline: 1, poolguard.RejectQueueFull: 1, poolguard.RejectPaused: 2, poolguard.RejectCanceled: 1}
	for _, r := range poolguard.RejectReasons() {
		if st.Of(r) != want[r] {
			t.Errorf("rejected as %s: %d, want %d", r, st.Of(r), want[r])
		}
	}
}

func TestUnknownPartition(t *testing.T) {
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "api"}, {Name: "sync"}}
	})
	unknown := p.Partition("snyc")
	err := unknown.With(context.Background(), func(*poolguard.Conn) error { return nil })
	if !errors.Is(err, poolguard.ErrNoPartition) || !strings.Contains(err.Error(), `"api", "sync"`) {
		t.Fatalf("unknown partition: %v, want ErrNoPartition listing the names", err)
	}
	if unknown.Err() == nil || unknown.Err().Error() != err.Error() || p.Partition("sync").Err() != nil {
		t.Errorf("Err: unknown %v, known %v; want the acquire's error and nil", unknown.Err(), p.Partition("sync").Err())
	}
}

func TestConfigErrors(t *testing.T) {
	parts := func(ps ...poolguard.PartitionConfig) func(*poolguard.Config) {
		return func(c *poolguard.Config) { c.Partitions = ps }
	}
	tests := []struct {
		name string
		opt  func(*poolguard.Config)
		want string
	}{
		{"no conn config", func(c *poolguard.Config) { c.ConnConfig = nil }, "build the Config with ParseConfig"},
		{"max conns", func(c *poolguard.Config) { c.MaxConns = 0 }, "MaxConns is 0"},
		{"min conns", func(c *poolguard.Config) { c.MinConns = 9 }, "MinConns is 9"},
		{"negative duration", func(c *poolguard.Config) { c.MaxHold = -time.Second }, "MaxHold is -1s"},
		{"stack depth", func(c *poolguard.Config) { c.StackDepth = 99 }, "StackDepth is 99"},
		{"guarantees above max", parts(poolguard.PartitionConfig{Name: "a", Guaranteed: 3}, poolguard.PartitionConfig{Name: "b", Guaranteed: 2}),
			"guarantees add up to 5, above MaxConns 4"},
		{"duplicate name", parts(poolguard.PartitionConfig{Name: "a"}, poolguard.PartitionConfig{Name: "a"}), `"a" is configured twice`},
		{"no name", parts(poolguard.PartitionConfig{}), "no name"},
		{"partition max", parts(poolguard.PartitionConfig{Name: "a", Max: 5}), "Max 5 is above MaxConns 4"},
		{"guarantee above max", parts(poolguard.PartitionConfig{Name: "a", Guaranteed: 3, Max: 2}), "Guaranteed 3 is above its Max 2"},
		{"max waiting", parts(poolguard.PartitionConfig{Name: "a", MaxWaiting: -2}), "MaxWaiting is -2"},
		{"suspect", parts(poolguard.PartitionConfig{Name: "a", SuspectAfter: -2}), "SuspectAfter is -2ns"},
		{"partition min conns", parts(poolguard.PartitionConfig{Name: "a", Max: 2, MinConns: 3}), "MinConns is 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := poolguard.ParseConfig(pooltest.Server(t).DSN())
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxConns = 4
			tt.opt(cfg)
			p, err := poolguard.New(context.Background(), cfg)
			if err == nil {
				p.Close()
				t.Fatal("New accepted a bad configuration")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "poolguard: invalid configuration: ") {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	cfg, err := poolguard.ParseConfig("postgres://u:secret@localhost:5432/db?pool_max_conns=7&pool_min_conns=2&pool_max_hold=90s&pool_suspect_after=2m&pool_max_waiting=3&application_name=x")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 7 || cfg.MinConns != 2 || cfg.MaxHold != 90*time.Second || cfg.SuspectAfter != 2*time.Minute || cfg.MaxWaiting != 3 {
		t.Fatalf("pool parameters not applied: %+v", cfg)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["pool_max_conns"]; ok || cfg.ConnConfig.RuntimeParams["application_name"] != "x" {
		t.Fatalf("runtime params = %v: pool parameters must be taken out, others kept", cfg.ConnConfig.RuntimeParams)
	}
	// Every parameter pgxpool's ParseConfig accepts.
	pgxpoolURL := "postgres://u@localhost/db?pool_max_conns=9&pool_min_conns=1&pool_min_idle_conns=2&pool_max_conn_lifetime=2h" +
		"&pool_max_conn_idle_time=5m&pool_health_check_period=30s&pool_max_conn_lifetime_jitter=1m&pool_ping_timeout=3s"
	cfg, err = poolguard.ParseConfig(pgxpoolURL)
	if err != nil {
		t.Fatalf("a pgxpool connection string: %v", err)
	}
	if cfg.MaxConns != 9 || cfg.MinConns != 1 || cfg.MinIdleConns != 2 || cfg.MaxConnLifetime != 2*time.Hour || cfg.MaxConnIdleTime != 5*time.Minute ||
		cfg.HealthCheckPeriod != 30*time.Second || cfg.MaxConnLifetimeJitter != time.Minute || cfg.PingTimeout != 3*time.Second {
		t.Fatalf("pgxpool parameters not applied: %+v", cfg)
	}
	for _, bad := range []struct{ url, want string }{
		{"postgres://u:secret@localhost/db?pool_max_conns=many", `pool_max_conns="many" is not an integer`},
		{"postgres://u:secret@localhost/db?pool_max_hold=5", `pool_max_hold="5" is not a duration`},
		{"postgres://u:secret@localhost/db?pool_max_connz=5", `unknown pool parameter "pool_max_connz"`},
		{"postgres://u:secret@localhost:notaport/db", "parse connection string"},
	} {
		_, err := poolguard.ParseConfig(bad.url)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseConfig(%q) = %v, want an error saying %q", bad.url, err, bad.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error reveals the password: %v", err)
		}
	}
}

func TestWithTx(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, nil)
	if _, err := p.Exec(ctx, "CREATE TABLE IF NOT EXISTS withtx (v int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = p.Exec(context.Background(), "DROP TABLE withtx") })
	insert := func(v int) func(pgx.Tx) error {
		return func(tx pgx.Tx) error { _, err := tx.Exec(ctx, "INSERT INTO withtx VALUES ($1)", v); return err }
	}
	if err := p.WithTx(ctx, insert(1)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := p.WithTx(ctx, func(tx pgx.Tx) error { _ = insert(2)(tx); return boom }); !errors.Is(err, boom) {
		t.Fatalf("WithTx returned %v, want the callback's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in tx" {
				t.Fatalf("recovered %v, want the callback's panic", r)
			}
		}()
		_ = p.WithTx(ctx, func(tx pgx.Tx) error { _ = insert(3)(tx); panic("panic in tx") })
	}()
	var sum int
	if err := p.QueryRow(ctx, "SELECT coalesce(sum(v), 0) FROM withtx").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 1 {
		t.Fatalf("sum = %d: only the committed insert may remain", sum)
	}
	st := p.Stats().Total()
	if st.InUse != 0 || st.LeaksProven() != 0 {
		t.Fatalf("after WithTx: in use %d, leaks %d", st.InUse, st.LeaksProven())
	}
	fullSize(t, p)
}

func TestWithPanicReleases(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, ev := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 1 })
	for range 3 {
		func() {
			defer func() { _ = recover() }()
			_ = p.With(ctx, func(c *poolguard.Conn) error {
				rows, err := c.Query(ctx, "SELECT generate_series(1, 10)") //leakcheck:ignore the panic below leaves the rows open on purpose
				if err != nil {
					return err
				}
				rows.Next()
				panic("mid-rows") // rows left open
			})
		}()
	}
	fullSize(t, p)
	if n := len(ev.Of(poolguard.LeakScopeEscaped)); n != 0 {
		t.Fatalf("a panic was reported as %d escapes", n)
	}
}

func TestQueryShortcutsRelease(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 1 })
	for range 3 {
		rows, err := p.Query(ctx, "SELECT generate_series(1, 3)")
		if err != nil {
			t.Fatal(err)
		}
		vals, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || len(vals) != 3 {
			t.Fatalf("CollectRows = %v, %v", vals, err)
		}
		var n int
		if err := p.QueryRow(ctx, "SELECT 42").Scan(&n); err != nil || n != 42 {
			t.Fatalf("QueryRow = %d, %v", n, err)
		}
		if err := p.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&n); !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("QueryRow with no row: %v, want pgx.ErrNoRows", err)
		}
		if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		// A failed Scan closes the rows, as in pgx.
		rows, err = p.Query(ctx, "SELECT 'x'")
		if err != nil {
			t.Fatal(err)
		}
		rows.Next()
		if err := rows.Scan(&n); err == nil {
			t.Fatal("scanning text into an int succeeded")
		}
	}
	if st := p.Stats().Total(); st.InUse != 0 {
		t.Fatalf("%d connections still in use after the shortcuts", st.InUse)
	}
}

func TestConnBusy(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, nil)
	err := p.With(ctx, func(c *poolguard.Conn) error {
		rows, err := c.Query(ctx, "SELECT generate_series(1, 3)")
		if err != nil {
			return err
		}
		if _, err := c.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrConnBusy) {
			t.Errorf("Exec with rows open: %v, want ErrConnBusy", err)
		}
		rows.Close()
		_, err = c.Exec(ctx, "SELECT 1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReleaseInTransactionClosesConnection(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 1 })
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.PID()
	if _, err := c.Begin(ctx); err != nil { //leakcheck:ignore released inside its transaction on purpose
		t.Fatal(err)
	}
	if ls := p.Leases(); ls[0].State != poolguard.LeaseInTransaction {
		t.Fatalf("lease state %v, want in_transaction", ls[0].State)
	}
	c.Release()
	err = p.With(ctx, func(c *poolguard.Conn) error {
		if c.PID() == pid {
			t.Error("a connection released inside a transaction was reused")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTerminatedBackends(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) { c.MaxConns = 2; c.PingAfterIdle = time.Millisecond })

	// Idle: the ping before reuse finds it dead and replaces it.
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.PID()
	c.Release()
	if err := pooltest.Server(t).Terminate(ctx, pid); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("query after an idle backend was terminated: %v", err)
	}

	// Busy: the query fails, the connection is discarded on release.
	c, err = p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Exec(ctx, "SELECT pg_sleep(30)"); errc <- err }()
	wait.Until(t, "the query runs", func() bool {
		return count(t, pooltest.Server(t), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", int64(c.PID())) == 1
	})
	if err := pooltest.Server(t).Terminate(ctx, c.PID()); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("query on a terminated backend succeeded")
	}
	c.Release()
	fullSize(t, p)
}

func TestServerRestartUnderLoad(t *testing.T) {
	srv := pgtemp.New(t, pgtemp.Options{})
	if srv.External() {
		t.Skip("the server is external: it cannot be restarted")
	}
	ctx := ctxTimeout(t, 60*time.Second)
	p, _ := newPool(t, srv, func(c *poolguard.Config) { c.MaxConns = 4; c.PingAfterIdle = time.Millisecond })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, failed := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := p.With(qctx, func(c *poolguard.Conn) error {
					_, err := c.Exec(qctx, "SELECT pg_sleep(0.005)")
					return err
				})
				cancel()
				mu.Lock()
				if err == nil {
					ok++
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d queries succeeded, %d failed across the restart", ok, failed)

	st := p.Stats()
	if st.Total().InUse != 0 || st.TotalConns > st.MaxConns {
		t.Fatalf("after the restart: %d in use, %d open of %d", st.Total().InUse, st.TotalConns, st.MaxConns)
	}
	fullSize(t, p)
}

func TestMinConnsAndLifetime(t *testing.T) {
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.MinConns = 2
		c.HealthCheckPeriod = 20 * time.Millisecond
		c.MaxConnLifetime = 150 * time.Millisecond
	})
	wait.Until(t, "MinConns are opened", func() bool { return p.Stats().Total().Idle == 2 })
	// Expired connections are closed and MinConns restored with new ones.
	wait.Until(t, "expired connections are replaced", func() bool {
		st := p.Stats().Total()
		return st.Closed >= 2 && st.Idle == 2
	})
}

func TestIdleInTxTimeout(t *testing.T) {
	ctx := ctxTimeout(t, 30*time.Second)
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "sync", IdleInTxTimeout: 100 * time.Millisecond}}
	})
	err := p.With(ctx, func(c *poolguard.Conn) error {
		tx, err := c.Begin(ctx) //leakcheck:ignore the server ends this transaction
		if err != nil {
			return err
		}
		time.Sleep(400 * time.Millisecond) // idle inside the transaction
		if _, err := tx.Exec(ctx, "SELECT 1"); err == nil {
			t.Error("the server kept a session idle in its transaction past the timeout")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fullSize(t, p)
}

// TestConfigErrorNamesTheField checks that a configuration error starts
// with the field that is wrong, not with one checked against it.
func TestConfigErrorNamesTheField(t *testing.T) {
	for _, tt := range []struct {
		opt  func(*poolguard.Config)
		want string
	}{
		{func(c *poolguard.Config) { c.MaxConns = -5 }, "MaxConns is -5"},
		{func(c *poolguard.Config) { c.Partitions = []poolguard.PartitionConfig{{Name: "a", Max: -3}} }, `partition "a": Max is -3`},
		{func(c *poolguard.Config) {
			c.Partitions = []poolguard.PartitionConfig{{Name: "a", IdleInTxTimeout: -time.Second}}
		}, `partition "a": IdleInTxTimeout is -1s`},
	} {
		cfg, err := poolguard.ParseConfig(pooltest.Server(t).DSN())
		if err != nil {
			t.Fatal(err)
		}
		tt.opt(cfg)
		_, err = poolguard.New(context.Background(), cfg)
		if msg := strings.TrimPrefix(fmt.Sprint(err), "poolguard: invalid configuration: "); !strings.HasPrefix(msg, tt.want) {
			t.Errorf("error %q does not start with %q", msg, tt.want)
		}
	}
}

// TestIdleInTxTimeoutBelowAMillisecond checks that a timeout the server
// cannot express is rounded up, not turned into no timeout at all.
func TestIdleInTxTimeoutBelowAMillisecond(t *testing.T) {
	p, _ := newPool(t, nil, func(c *poolguard.Config) {
		c.Partitions = []poolguard.PartitionConfig{{Name: "a", IdleInTxTimeout: 500 * time.Microsecond}}
	})
	var got string
	if err := p.QueryRow(t.Context(), "SHOW idle_in_transaction_session_timeout").Scan(&got); err != nil || got != "1ms" {
		t.Fatalf("idle_in_transaction_session_timeout = %q (%v), want 1ms", got, err)
	}
}
