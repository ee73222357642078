package replay

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/pgtemp"
)

// jobUserTimeout bounds the job's sync of one user, as the job's own
// timeout would in production.
const jobUserTimeout = 2 * time.Second

// newTarget opens the pool of kind on dsn.
func newTarget(ctx context.Context, kind, dsn string, o Options, run *Run) (target, error) {
	switch kind {
	case KindPgxpool:
		return newPgxpool(ctx, dsn, o.PoolSize)
	case KindSQL:
		return newSQL(ctx, dsn, o.PoolSize)
	}
	return newPoolguard(ctx, dsn, o.PoolSize, o, run.leak)
}

// leak records a leak event poolguard reported during the run.
func (r *Run) leak(ev poolguard.LeakEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return // reported while closing, after the results were read
	}
	r.Events = append(r.Events, Event{At: time.Since(r.start), Kind: ev.Kind, CallSite: ev.CallSite, Function: ev.Function})
}

// drive runs the workload on t for o.Duration: the API traffic, the sync
// job for o.JobFor, and the sampler.
func (r *Run) drive(ctx context.Context, t target, o Options) {
	runCtx, cancel := context.WithDeadline(ctx, r.start.Add(o.Duration))
	defer cancel()
	jobCtx, stopJob := context.WithDeadline(ctx, r.start.Add(o.JobFor))
	defer stopJob()

	var wg sync.WaitGroup
	if r.Replica == 1 {
		wg.Go(func() { r.job(jobCtx, t, o) })
	}
	wg.Go(func() { r.traffic(runCtx, ctx, t, o) })
	tick := time.NewTicker(o.SampleEvery)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-runCtx.Done():
			done = true
		}
		r.sample(t)
	}
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = true
	if pg, ok := t.(*poolguardTarget); ok {
		r.Reclaimed = pg.pool.Stats().Total().Reclaimed.Total()
	}
}

// traffic sends API requests at o.Rate until runCtx ends, each in its own
// goroutine as a server's requests are, and waits for them. Requests are
// bounded by o.Deadline, not by runCtx, so the last ones finish normally.
func (r *Run) traffic(runCtx, ctx context.Context, t target, o Options) {
	if o.Rate == 0 {
		return
	}
	var reqs sync.WaitGroup
	defer reqs.Wait()
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
	defer tick.Stop()
	for {
		select {
		case <-runCtx.Done():
			return
		case <-tick.C:
		}
		id := rand.Int64N(int64(o.Users)) + 1
		reqs.Go(func() { r.request(ctx, t, o, id) })
	}
}

// request serves one API request and records its outcome.
func (r *Run) request(ctx context.Context, t target, o Options, id int64) {
	ctx, cancel := context.WithTimeout(ctx, o.Deadline)
	defer cancel()
	begin := time.Now()
	r.waiting.Add(1)
	got := false
	err := t.api(ctx, id, func() {
		got = true
		r.waiting.Add(-1)
	})
	if !got {
		r.waiting.Add(-1)
	}
	took := time.Since(begin)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.API++
	r.latencies = append(r.latencies, took)
	if err == nil {
		r.APIOK++
		r.ClientQueries++
		r.ok++
		return
	}
	r.APIFailed++
	r.fail++
	cause := "query failed"
	if !got {
		cause = "no connection within the deadline"
		if r.Exhausted < 0 {
			r.Exhausted = begin.Sub(r.start)
		}
	}
	r.Failures[cause]++
}

// job is the sync job: it visits o.SyncRate users a second, in ID order,
// with the buggy code, until ctx ends.
func (r *Run) job(ctx context.Context, t target, o Options) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.SyncRate))
	defer tick.Stop()
	var id int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		id = id%int64(o.Users) + 1
		uctx, cancel := context.WithTimeout(ctx, jobUserTimeout)
		err := t.sync(uctx, id)
		cancel()
		r.mu.Lock()
		switch {
		case err == nil:
			r.Synced++
			r.ClientQueries += 2
		case errors.Is(err, users.ErrValidation):
			r.Invalid++
			r.ClientQueries++
		default:
			r.SyncFailed++
		}
		r.mu.Unlock()
	}
}

// sample records the pool's state and the requests finished since the
// previous sample.
func (r *Run) sample(t target) {
	inUse, maxConns := t.usage()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Sample{At: time.Since(r.start), InUse: inUse, Max: maxConns, Waiting: int(r.waiting.Load()), OK: r.ok, Fail: r.fail,
		Backends: r.backends[0], Idle: r.backends[1]}
	if n := len(r.latencies); n > 0 {
		slices.Sort(r.latencies)
		s.P99 = r.latencies[(n*99+99)/100-1]
	}
	r.Samples = append(r.Samples, s)
	r.ok, r.fail, r.latencies = 0, 0, r.latencies[:0]
}

// progress prints a line per pool every o.ProgressEvery until stop closes.
func progress(stop <-chan struct{}, start time.Time, runs []*Run, targets []target, o Options) {
	if o.Progress == nil {
		return
	}
	tick := time.NewTicker(o.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for i, run := range runs {
			inUse, maxConns := targets[i].usage()
			run.mu.Lock()
			success := run.Success()
			run.mu.Unlock()
			fmt.Fprintf(o.Progress, "%5.0fs  %-16s  in use %3d/%-3d  waiting %4d  API success %6.2f%%\n",
				time.Since(start).Seconds(), run.Name, inUse, maxConns, run.waiting.Load(), success)
		}
	}
}

// collectGarbage runs a collection every interval until stop closes.
func collectGarbage(stop <-chan struct{}, every time.Duration) {
	if every <= 0 {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			runtime.GC()
		}
	}
}

// watchServer reads, every interval until stop closes, how many backends
// the server has on each run's database, and how many of them are idle.
func watchServer(ctx context.Context, stop <-chan struct{}, conn *pgx.Conn, runs []*Run, every time.Duration) {
	dbs := make([]string, len(runs))
	for i, run := range runs {
		dbs[i] = run.db
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		counts := map[string][2]int{}
		qctx, cancel := context.WithTimeout(ctx, every) // a slow server skips a reading
		rows, _ := conn.Query(qctx, `SELECT datname, count(*)::int, (count(*) FILTER (WHERE state = 'idle'))::int
			FROM pg_stat_activity WHERE datname = ANY($1) GROUP BY datname`, dbs)
		var db string
		var n [2]int
		_, err := pgx.ForEachRow(rows, []any{&db, &n[0], &n[1]}, func() error {
			counts[db] = n
			return nil
		})
		cancel()
		if err == nil {
			for _, run := range runs {
				run.mu.Lock()
				run.backends = counts[run.db]
				run.mu.Unlock()
			}
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// setupDB creates the database of one run, migrated and seeded, and
// returns its name.
func setupDB(ctx context.Context, srv *pgtemp.Server, run *Run, o Options) (string, error) {
	kind := map[string]string{KindPgxpool: "pgxpool", KindSQL: "sql", KindPoolguard: "poolguard"}[run.Kind]
	name := fmt.Sprintf("replay_%s_r%d_%d", kind, run.Replica, time.Now().UnixNano()%1e9)
	dsn, err := srv.CreateDatabase(ctx, name)
	if err != nil {
		return "", fmt.Errorf("replay: %w", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", fmt.Errorf("replay: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := users.Migrate(ctx, conn); err != nil {
		return "", err
	}
	return name, users.Seed(ctx, conn, o.Users, o.CorruptEvery())
}

// warm opens some connections before the replay starts, as a service
// that has run for days has them: a cold start on a loaded machine would
// otherwise time out requests for reasons that are not the leak's.
func warm(ctx context.Context, t target, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = t.api(ctx, 1, func() {}) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// xacts reads the committed and rolled back transactions of database db
// from pg_stat_database into out. With terminate, it first ends every
// session on the database, so that their statistics are flushed.
func xacts(ctx context.Context, srv *pgtemp.Server, db string, out *[2]int64, terminate bool) error {
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if !terminate {
		return readXacts(ctx, conn, db, out)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", db); err != nil {
		return fmt.Errorf("replay: ending sessions on %s: %w", db, err)
	}
	for {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db).Scan(&n); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return readXacts(ctx, conn, db, out)
}

func readXacts(ctx context.Context, conn *pgx.Conn, db string, out *[2]int64) error {
	err := conn.QueryRow(ctx, "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1", db).Scan(&out[0], &out[1])
	if err != nil {
		return fmt.Errorf("replay: reading pg_stat_database: %w", err)
	}
	return nil
}

// queryOne runs a query returning one value on a new connection to dsn.
func queryOne(ctx context.Context, dsn, sql string, dest any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql).Scan(dest)
}
