package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/replay"
)

// errBelowThreshold marks a replay that ran but failed its check.
var errBelowThreshold = errors.New("below the threshold")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, errBelowThreshold):
		fmt.Fprintln(os.Stderr, "poolguard:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "poolguard:", err)
		os.Exit(2)
	}
}

const usage = `usage: poolguard replay [flags]

Subcommands:
  replay   replay the connection-leak outage on pgxpool, database/sql and poolguard`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "replay" {
		fmt.Fprintln(stderr, usage)
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return flag.ErrHelp
		}
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	return replayCmd(ctx, args[1:], stdout, stderr)
}

func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("poolguard replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o replay.Options
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "how long each pool runs")
	fs.DurationVar(&o.JobFor, "job-for", 0, "how long the sync job runs (default two thirds of -duration)")
	fs.IntVar(&o.PoolSize, "pool-size", 20, "connections per pool: the outage's 100 scaled down so a run takes a minute; doubling it (40) only delays the outage, and 200 needs -duration 3m to reach it")
	fs.Float64Var(&o.Rate, "rate", 100, "API requests per second, per pool")
	fs.DurationVar(&o.Deadline, "deadline", time.Second, "deadline of each API request")
	fs.Float64Var(&o.LeakRate, "leak-rate", 2, "corrupt users the sync job meets per second: leaked connections per second")
	fs.Float64Var(&o.SyncRate, "sync-rate", 10, "users the sync job visits per second")
	fs.IntVar(&o.Users, "users", 1000, "users in each database")
	fs.DurationVar(&o.MaxHold, "max-hold", 3*time.Second, "poolguard's lease limit on the sync partition")
	fs.DurationVar(&o.GCEvery, "gc-every", time.Second, "run runtime.GC at this interval, as a service that allocates collects anyway (negative: never, leaving the proof to -max-hold)")
	minSuccess := fs.Float64("min-success", 99.9, "fail (exit status 1) if poolguard's API success is below this percentage")
	report := fs.String("report", filepath.Join(os.TempDir(), "poolguard-replay.html"), "where to write the HTML report (empty: none)")
	pools := fs.String("pools", strings.Join(replay.Kinds, ","), "pools to run, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("replay takes no arguments, got %q", fs.Args())
	}
	if *minSuccess < 0 || *minSuccess > 100 {
		return fmt.Errorf("-min-success must be a percentage between 0 and 100, got %g", *minSuccess)
	}
	o.Kinds = strings.Split(*pools, ",")
	o.Progress = stdout

	fmt.Fprintln(stdout, "starting a throw-away PostgreSQL (set POOLGUARD_DATABASE_URL to use yours)")
	srv, err := pgtemp.Start(ctx, pgtemp.Options{Settings: map[string]string{
		"max_connections": fmt.Sprint(len(o.Kinds)*o.PoolSize + 20),
	}})
	if err != nil {
		return err
	}
	defer srv.Close()
	res, err := replay.Replay(ctx, srv, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, res.Setup())
	fmt.Fprintln(stdout)
	if err := res.WriteSummary(stdout); err != nil {
		return err
	}
	if *report != "" {
		if err := writeReport(*report, res, strings.Join(append([]string{"poolguard", "replay"}, args...), " ")); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nreport:", *report)
	}
	if pg := res.Run(replay.KindPoolguard); pg != nil && pg.Success() < *minSuccess {
		return fmt.Errorf("%w: poolguard kept %.2f%% of API requests successful, -min-success is %g%%", errBelowThreshold, pg.Success(), *minSuccess)
	}
	return nil
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
