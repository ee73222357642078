package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/replay"
)

// errBelowThreshold marks a replay that ran but failed its check.
var errBelowThreshold = errors.New("below the threshold")

var replayCmd = &command{
	name:    "replay",
	summary: "replay the connection-leak outage on pgxpool, database/sql and poolguard",
	usage: `usage: poolguard replay [flags]

Replays the connection-leak outage in compressed time on a throw-away
PostgreSQL (or on POOLGUARD_DATABASE_URL), with the same workload on
pgxpool, database/sql and poolguard side by side. Prints progress and a
summary, writes an HTML report, and exits with status 1 if poolguard kept
less than --min-success percent of the API requests successful.

Flags:
  --duration D      how long each pool runs (default 1m0s)
  --job-for D       how long the sync job runs (default two thirds of --duration)
  --pool-size N     connections per pool (default 20): the outage's 100 scaled down
                    so a run takes a minute; 200 needs --duration 3m to reach it
  --rate R          API requests per second, per pool (default 100)
  --deadline D      deadline of each API request (default 1s)
  --leak-rate R     corrupt users the sync job meets per second: leaked
                    connections per second (default 2)
  --sync-rate R     users the sync job visits per second (default 10)
  --users N         users in each database (default 1000)
  --max-hold D      poolguard's lease limit on the sync partition (default 3s)
  --gc-every D      force runtime.GC at this interval, for experiments (default 0: never;
                    leaks are then proven by the collections the workload causes)
  --min-success P   exit 1 if poolguard's API success is below P percent (default 99.9)
  --report FILE     where to write the HTML report (empty: none)
                    (default $TMPDIR/poolguard-replay.html)
  --pools LIST      pools to run, comma-separated (default pgxpool,database/sql,poolguard)
  --replicas N      replicas of the service per pool, each with a pool of its own on the
                    one server; the sync job runs in the first only (default 1)
  --bouncer MODE    connect the pools through a PgBouncer in MODE, transaction or session
                    (default: none; needs pgbouncer installed)
  --json            print the outcome as JSON, and the progress on stderr
`,
	setup: setupReplay,
}

func setupReplay(args []string, e *env) (func(context.Context) error, error) {
	fs := newFlagSet("replay")
	var o replay.Options
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "")
	fs.DurationVar(&o.JobFor, "job-for", 0, "")
	fs.IntVar(&o.PoolSize, "pool-size", 20, "")
	fs.Float64Var(&o.Rate, "rate", 100, "")
	fs.DurationVar(&o.Deadline, "deadline", time.Second, "")
	fs.Float64Var(&o.LeakRate, "leak-rate", 2, "")
	fs.Float64Var(&o.SyncRate, "sync-rate", 10, "")
	fs.IntVar(&o.Users, "users", 1000, "")
	fs.DurationVar(&o.MaxHold, "max-hold", 3*time.Second, "")
	fs.DurationVar(&o.GCEvery, "gc-every", 0, "")
	minSuccess := fs.Float64("min-success", 99.9, "")
	report := fs.String("report", filepath.Join(os.TempDir(), "poolguard-replay.html"), "")
	pools := fs.String("pools", strings.Join(replay.Kinds, ","), "")
	fs.IntVar(&o.Replicas, "replicas", 1, "")
	bouncer := fs.String("bouncer", "", "")
	asJSON := fs.Bool("json", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("replay takes no arguments, got %q", pos)
	}
	// Checked here, before a server starts, so that a typo costs nothing.
	if *minSuccess < 0 || *minSuccess > 100 {
		return nil, fmt.Errorf("--min-success must be a percentage between 0 and 100, got %g", *minSuccess)
	}
	if err := positive("duration", o.Duration); err != nil {
		return nil, err
	}
	if err := positive("deadline", o.Deadline); err != nil {
		return nil, err
	}
	if o.JobFor < 0 || o.JobFor > o.Duration {
		return nil, fmt.Errorf("--job-for must be between 0 and --duration (%s), got %s", o.Duration, o.JobFor)
	}
	if o.PoolSize < 2 {
		return nil, fmt.Errorf("--pool-size must be at least 2 (one connection per partition), got %d", o.PoolSize)
	}
	if o.Users < 1 {
		return nil, fmt.Errorf("--users must be at least 1, got %d", o.Users)
	}
	if o.Rate <= 0 || o.Rate > 10000 {
		return nil, fmt.Errorf("--rate must be above 0 and at most 10000 requests a second, got %g", o.Rate)
	}
	if o.SyncRate <= 0 || o.LeakRate < 0 || o.LeakRate > o.SyncRate {
		return nil, fmt.Errorf("--leak-rate (%g) must be between 0 and --sync-rate (%g), which must be above 0", o.LeakRate, o.SyncRate)
	}
	if o.MaxHold < 0 {
		return nil, fmt.Errorf("--max-hold must not be negative, got %s", o.MaxHold)
	}
	if o.Replicas < 1 || o.Replicas > replay.MaxReplicas {
		return nil, fmt.Errorf("--replicas must be between 1 and %d, got %d", replay.MaxReplicas, o.Replicas)
	}
	if *bouncer != "" && *bouncer != "transaction" && *bouncer != "session" {
		return nil, fmt.Errorf("--bouncer must be transaction or session, got %q", *bouncer)
	}
	o.Kinds = strings.Split(*pools, ",")
	for _, k := range o.Kinds {
		if !slices.Contains(replay.Kinds, k) {
			return nil, fmt.Errorf("--pools: unknown pool %q: use some of %s", k, strings.Join(replay.Kinds, ","))
		}
	}
	command := strings.Join(append([]string{"poolguard", "replay"}, args...), " ")
	return func(ctx context.Context) error {
		return runReplay(ctx, e, o, *bouncer, *minSuccess, *report, command, *asJSON)
	}, nil
}

func runReplay(ctx context.Context, e *env, o replay.Options, bouncer string, minSuccess float64, report, command string, asJSON bool) error {
	stdout := e.stdout
	if asJSON {
		// stdout holds the JSON alone.
		stdout = e.stderr
	}
	o.Progress = stdout
	fmt.Fprintln(stdout, "starting a throw-away PostgreSQL (set POOLGUARD_DATABASE_URL to use yours)")
	srv, err := pgtemp.Start(ctx, pgtemp.Options{Settings: map[string]string{
		"max_connections": fmt.Sprint(o.Connections() + 20),
	}})
	if err != nil {
		return err
	}
	defer srv.Close()
	if bouncer != "" {
		b, err := pgtemp.StartBouncer(ctx, srv, pgtemp.BouncerOptions{Mode: bouncer, Settings: map[string]string{
			// Each replica has a database of its own: a server pool each.
			"default_pool_size": fmt.Sprint(o.PoolSize),
			"max_client_conn":   fmt.Sprint(o.Connections() + 100),
		}})
		if err != nil {
			return err
		}
		defer b.Close()
		o.Bouncer = b
		fmt.Fprintf(stdout, "the pools connect through PgBouncer in %s mode\n", bouncer)
	}
	res, err := replay.Replay(ctx, srv, o)
	if err != nil {
		return err
	}
	if report != "" {
		if err := writeReport(report, res, command); err != nil {
			return err
		}
	}
	if asJSON {
		if err := writeJSON(e.stdout, replaySummary(res, report)); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, res.Setup())
		fmt.Fprintln(stdout)
		if err := res.WriteSummary(stdout); err != nil {
			return err
		}
		if report != "" {
			fmt.Fprintln(stdout, "\nreport:", report)
		}
	}
	for _, pg := range res.RunsOf(replay.KindPoolguard) {
		if pg.Success() < minSuccess {
			return fmt.Errorf("%w: %s kept %.2f%% of API requests successful, --min-success is %g%%", errBelowThreshold, pg.Name, pg.Success(), minSuccess)
		}
	}
	return nil
}

// replayJSON is a replay's outcome as --json prints it.
type replayJSON struct {
	Server         string    `json:"server"`
	ElapsedSeconds float64   `json:"elapsedSeconds"`
	Report         string    `json:"report,omitempty"`
	Runs           []runJSON `json:"runs"`
}

type runJSON struct {
	Kind           string           `json:"kind"`
	Replica        int              `json:"replica"`
	API            int64            `json:"api"`
	APIOK          int64            `json:"apiOK"`
	APIFailed      int64            `json:"apiFailed"`
	SuccessPercent float64          `json:"successPercent"`
	Failures       map[string]int64 `json:"failures"`
	// ExhaustedSeconds is when an API request first failed for want of
	// a connection; absent if never.
	ExhaustedSeconds *float64 `json:"exhaustedSeconds,omitempty"`
	Reclaimed        int64    `json:"reclaimed"`
	Synced           int64    `json:"synced"`
	Invalid          int64    `json:"invalid"`
	SyncFailed       int64    `json:"syncFailed"`
	FirstLeak        *struct {
		Seconds  float64 `json:"seconds"`
		CallSite string  `json:"callSite"`
		Function string  `json:"function"`
	} `json:"firstLeak,omitempty"`
	Recovered bool `json:"recovered"`
	Closed    bool `json:"closed"`
}

func replaySummary(res *replay.Result, report string) replayJSON {
	out := replayJSON{Server: res.Server, ElapsedSeconds: res.Elapsed.Seconds(), Report: report, Runs: []runJSON{}}
	for _, r := range res.Runs {
		j := runJSON{
			Kind: r.Kind, Replica: r.Replica, API: r.API, APIOK: r.APIOK, APIFailed: r.APIFailed, SuccessPercent: r.Success(),
			Failures: r.Failures, Reclaimed: r.Reclaimed, Synced: r.Synced, Invalid: r.Invalid, SyncFailed: r.SyncFailed,
			Recovered: r.Recovered(res.Options.JobFor, res.Options.Duration), Closed: r.Closed,
		}
		if r.Exhausted >= 0 {
			s := r.Exhausted.Seconds()
			j.ExhaustedSeconds = &s
		}
		if ev, ok := r.FirstLeak(); ok {
			j.FirstLeak = &struct {
				Seconds  float64 `json:"seconds"`
				CallSite string  `json:"callSite"`
				Function string  `json:"function"`
			}{ev.At.Seconds(), ev.CallSite, ev.Function}
		}
		out.Runs = append(out.Runs, j)
	}
	return out
}

func writeReport(path string, res *replay.Result, command string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := res.WriteHTML(f, command); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
