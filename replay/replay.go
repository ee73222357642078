package replay

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
)

// Options configure a replay. The zero value of a field takes the default
// given in its comment.
type Options struct {
	// Duration is how long each pool runs (60s).
	Duration time.Duration
	// JobFor is how long the sync job runs, from the start; the rest of
	// Duration shows whether the pool recovers without a restart (two
	// thirds of Duration).
	JobFor time.Duration
	// PoolSize is each pool's maximum: the outage's 100 scaled down to 20
	// so that the replay finishes in a minute.
	PoolSize int
	// Rate is the API requests per second sent to each pool (100).
	Rate float64
	// Deadline bounds each API request, waiting for a connection
	// included (1s).
	Deadline time.Duration
	// LeakRate is how many corrupt users the sync job meets per second,
	// each a leaked connection with the buggy job (2).
	LeakRate float64
	// SyncRate is how many users the sync job visits per second (10); it
	// must be at least LeakRate.
	SyncRate float64
	// Users is the number of users in each database (1000).
	Users int
	// MaxHold is poolguard's lease limit on the sync partition (3s).
	MaxHold time.Duration
	// GCEvery runs runtime.GC at this interval, for experiments. By
	// default (zero) nothing is forced: poolguard's proofs of leaks come
	// from the collections the workload itself causes, as in a service.
	GCEvery time.Duration
	// SampleEvery is the interval of the samples behind the charts (1s).
	SampleEvery time.Duration
	// Progress, if set, receives a progress line per pool every
	// ProgressEvery (5s).
	Progress      io.Writer
	ProgressEvery time.Duration
	// Kinds are the pools to run (Kinds, all three).
	Kinds []string
	// Replicas is how many replicas of the service run per pool kind,
	// each with a pool of its own of PoolSize connections, all on the one
	// server (1). The sync job runs in the first replica only, as a job
	// that must not run twice does; every replica serves Rate API
	// requests a second. Each replica has a database of its own, so that
	// the server's counts (backends, transactions) are the replica's, even
	// behind a bouncer.
	Replicas int
	// Bouncer, if set, is a PgBouncer in front of the server: the pools
	// connect through it, while the replay's setup and its reading of the
	// server's statistics go to the server directly.
	Bouncer *pgtemp.Bouncer
}

func (o *Options) setDefaults() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.Duration, 60*time.Second)
	def(&o.JobFor, (o.Duration * 2 / 3).Round(time.Second))
	def(&o.Deadline, time.Second)
	def(&o.MaxHold, 3*time.Second)
	def(&o.SampleEvery, time.Second)
	def(&o.ProgressEvery, 5*time.Second)
	if o.PoolSize == 0 {
		o.PoolSize = 20
	}
	if o.Rate == 0 {
		o.Rate = 100
	}
	if o.LeakRate == 0 {
		o.LeakRate = 2
	}
	if o.SyncRate == 0 {
		o.SyncRate = 10
	}
	if o.Users == 0 {
		o.Users = 1000
	}
	if len(o.Kinds) == 0 {
		o.Kinds = Kinds
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	switch {
	case o.Duration < 0 || o.JobFor < 0 || o.JobFor > o.Duration:
		return fmt.Errorf("replay: duration (%v) must be positive and the job's time (%v) within it", o.Duration, o.JobFor)
	case o.PoolSize < 2:
		return fmt.Errorf("replay: pool size must be at least 2, got %d", o.PoolSize)
	case o.Rate < 0 || o.Rate > 10000:
		return fmt.Errorf("replay: rate must be between 0 and 10000 requests a second, got %g", o.Rate)
	case o.Deadline < 0 || o.MaxHold < 0:
		return fmt.Errorf("replay: deadline (%v) and max hold (%v) must be positive", o.Deadline, o.MaxHold)
	case o.LeakRate < 0 || o.SyncRate <= 0 || o.LeakRate > o.SyncRate:
		return fmt.Errorf("replay: leak rate (%g/s) must be between 0 and the sync rate (%g/s)", o.LeakRate, o.SyncRate)
	case o.Users < 1:
		return fmt.Errorf("replay: users must be at least 1, got %d", o.Users)
	case o.Replicas < 1 || o.Replicas > MaxReplicas:
		return fmt.Errorf("replay: replicas must be between 1 and %d, got %d", MaxReplicas, o.Replicas)
	}
	for _, k := range o.Kinds {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("replay: unknown pool kind %q: use %s", k, strings.Join(Kinds, ", "))
		}
	}
	return nil
}

// MaxReplicas bounds Options.Replicas: each replica is a pool, a database
// and its API traffic in this one process.
const MaxReplicas = 20

// Connections is the most connections the replay's pools may open on the
// server, together: a server (or bouncer) for the replay needs that many
// and some to spare.
func (o *Options) Connections() int {
	return len(o.Kinds) * max(1, o.Replicas) * o.PoolSize
}

// CorruptEvery is how often a user is corrupt so that the job, visiting
// SyncRate users a second, meets LeakRate corrupt ones a second.
func (o *Options) CorruptEvery() int {
	if o.LeakRate == 0 {
		return 0
	}
	return max(1, int(math.Round(o.SyncRate/o.LeakRate)))
}

// Result is the outcome of a replay.
type Result struct {
	Options Options
	Started time.Time
	Server  string // PostgreSQL's version
	Machine Machine
	Runs    []*Run
	Elapsed time.Duration
}

// Run returns the run of kind, or nil; with replicas, that of the first
// replica, the one that runs the sync job.
func (r *Result) Run(kind string) *Run {
	for _, run := range r.Runs {
		if run.Kind == kind {
			return run
		}
	}
	return nil
}

// RunsOf returns the runs of kind, one per replica.
func (r *Result) RunsOf(kind string) []*Run {
	var runs []*Run
	for _, run := range r.Runs {
		if run.Kind == kind {
			runs = append(runs, run)
		}
	}
	return runs
}

// Sample is the state of one pool at one time.
type Sample struct {
	At       time.Duration // since the start
	InUse    int
	Max      int
	Waiting  int           // API requests waiting for a connection
	OK, Fail int           // API requests finished since the previous sample
	P99      time.Duration // of the API requests finished since the previous sample
	// Backends and Idle are the server's backends on the replica's
	// database, all and those idle (not in a transaction), as
	// pg_stat_activity showed them at the latest reading. Behind a
	// bouncer they are the bouncer's connections to the server.
	Backends, Idle int
}

// Event is a leak event poolguard reported.
type Event struct {
	At       time.Duration
	Kind     poolguard.LeakKind
	CallSite string // file:line of the leaked acquire
	Function string // the function that acquired
}

// Run is one pool's replay: one replica of the service.
type Run struct {
	Kind string
	// Replica numbers the replicas of a kind from 1; the first runs the
	// sync job.
	Replica int
	// Name is the kind, followed by the replica ("pgxpool r2") when there
	// are several.
	Name    string
	Samples []Sample
	Events  []Event

	API, APIOK, APIFailed int64
	Failures              map[string]int64 // failed API requests by cause
	// Exhausted is when an API request first failed for want of a
	// connection; negative if never.
	Exhausted time.Duration
	// Reclaimed is how many connections the pool took back from holders.
	Reclaimed int64
	// Synced, Invalid and SyncFailed count the job's users: synced,
	// rejected by validation (each a leak), and not reached (no
	// connection, or the query failed).
	Synced, Invalid, SyncFailed int64
	// ClientQueries counts the statements the replay completed on the
	// server: API reads and the job's reads and updates.
	ClientQueries int64
	// XactCommit and XactRollback are the server's own count over the
	// run, from pg_stat_database.
	XactCommit, XactRollback int64
	// Closed reports whether the pool's Close returned (within 5 seconds).
	Closed bool

	mu        sync.Mutex
	latencies []time.Duration
	ok, fail  int
	waiting   atomic.Int64
	db        string // the replica's database
	backends  [2]int // the latest reading of Sample.Backends and Idle
	start     time.Time
	ended     bool // the run is over: later events are not recorded
}

// FirstLeak returns the first proven leak poolguard reported, if any.
func (r *Run) FirstLeak() (Event, bool) {
	for _, e := range r.Events {
		if e.Kind.Proven() {
			return e, true
		}
	}
	return Event{}, false
}

// Success is the share of API requests that succeeded, in percent.
func (r *Run) Success() float64 {
	if r.API == 0 {
		return 100
	}
	return 100 * float64(r.APIOK) / float64(r.API)
}

// Recovered reports whether the pool served the API again at the end,
// after the job stopped: every request of the last samples (the last
// fifth of the time after the job, at least one sample) succeeded and the
// pool was not full.
func (r *Run) Recovered(jobFor, duration time.Duration) bool {
	from := duration - max((duration-jobFor)/5, time.Nanosecond)
	seen := false
	for _, s := range r.Samples {
		if s.At <= from || s.At <= jobFor {
			continue
		}
		seen = true
		if s.Fail > 0 || s.InUse >= s.Max {
			return false
		}
	}
	return seen
}

// Replay replays the outage on srv, creating a database per pool kind and
// replica.
func Replay(ctx context.Context, srv *pgtemp.Server, opts Options) (*Result, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	res := &Result{Options: opts, Started: time.Now(), Machine: machine()}
	if err := queryOne(ctx, srv.DSN(), "SHOW server_version", &res.Server); err != nil {
		return nil, fmt.Errorf("replay: reaching PostgreSQL: %w", err)
	}
	var (
		runs    []*Run
		targets []target
	)
	defer func() {
		for _, t := range targets {
			if t != nil {
				t.close()
			}
		}
	}()
	for _, kind := range opts.Kinds {
		for replica := 1; replica <= opts.Replicas; replica++ {
			run := &Run{Kind: kind, Replica: replica, Name: kind, Exhausted: -1, Failures: map[string]int64{}}
			if opts.Replicas > 1 {
				run.Name = fmt.Sprintf("%s r%d", kind, replica)
			}
			var err error
			if run.db, err = setupDB(ctx, srv, run, opts); err != nil {
				return nil, err
			}
			dsn := srv.ConnString(run.db)
			if opts.Bouncer != nil {
				dsn = opts.Bouncer.ConnString(run.db)
			}
			t, err := newTarget(ctx, kind, dsn, opts, run)
			if err != nil {
				return nil, fmt.Errorf("replay: %s pool: %w", run.Name, err)
			}
			runs, targets = append(runs, run), append(targets, t)
		}
	}
	before := make([][2]int64, len(runs))
	for i := range runs {
		if err := warm(ctx, targets[i], opts.PoolSize/2); err != nil {
			return nil, fmt.Errorf("replay: %s pool: %w", runs[i].Name, err)
		}
		if err := xacts(ctx, srv, runs[i].db, &before[i], false); err != nil {
			return nil, err
		}
	}
	server, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer server.Close(context.WithoutCancel(ctx))

	start := time.Now()
	var wg sync.WaitGroup
	for i, run := range runs {
		run.start = start
		wg.Go(func() { run.drive(ctx, targets[i], opts) })
	}
	stopAux := make(chan struct{})
	var aux sync.WaitGroup
	aux.Go(func() { collectGarbage(stopAux, opts.GCEvery) })
	aux.Go(func() { progress(stopAux, start, runs, targets, opts) })
	aux.Go(func() { watchServer(ctx, stopAux, server, runs, opts.SampleEvery) })
	wg.Wait()
	close(stopAux)
	aux.Wait()
	res.Elapsed = time.Since(start)

	for i, run := range runs {
		run.Closed = targets[i].close()
		targets[i] = nil
		var after [2]int64
		if err := xacts(ctx, srv, run.db, &after, true); err != nil {
			return nil, err
		}
		run.XactCommit, run.XactRollback = after[0]-before[i][0], after[1]-before[i][1]
	}
	res.Runs = runs
	return res, ctx.Err()
}
