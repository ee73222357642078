package replay_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/replay"
)

var server *pgtemp.Server

func TestMain(m *testing.M) {
	os.Exit(pgtemp.Main(m, pgtemp.Options{Settings: map[string]string{"max_connections": "200"}},
		func(s *pgtemp.Server) { server = s },
		func() error {
			// pgxpool's Close never returns once a connection leaked: the
			// replay leaves that one call behind, by design.
			return goleak.Find(goleak.IgnoreAnyFunction("github.com/poolguard/poolguard/replay.closeWithin.func1"))
		}))
}

// TestReplay runs a short replay. It checks outcomes, never timings: the
// pools that cannot reclaim run out, poolguard reports the leaking line and
// serves the API.
func TestReplay(t *testing.T) {
	t.Parallel()
	res, err := replay.Replay(t.Context(), server, replay.Options{
		Duration: 8 * time.Second, JobFor: 5 * time.Second, PoolSize: 6, Rate: 50,
		LeakRate: 4, SyncRate: 8, Users: 100, GCEvery: 500 * time.Millisecond, MaxHold: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{replay.KindPgxpool, replay.KindSQL} {
		run := res.Run(kind)
		if run.Exhausted < 0 || run.Recovered(res.Options.JobFor, res.Options.Duration) || run.Reclaimed != 0 {
			t.Errorf("%s: exhausted at %v, recovered %v, reclaimed %d; want exhausted, not recovered, nothing reclaimed",
				kind, run.Exhausted, run.Recovered(res.Options.JobFor, res.Options.Duration), run.Reclaimed)
		}
	}
	pg := res.Run(replay.KindPoolguard)
	first, ok := pg.FirstLeak()
	// The exact line is checked by the example's own tests.
	if !ok || !strings.HasPrefix(first.CallSite, "users/job.go:") || first.Function != "users.SyncUserBuggy" {
		t.Errorf("poolguard's first leak report %+v (found %v), want one in users.SyncUserBuggy", first, ok)
	}
	if pg.Reclaimed == 0 || !pg.Recovered(res.Options.JobFor, res.Options.Duration) {
		t.Errorf("poolguard: reclaimed %d, recovered %v; want connections reclaimed and recovery", pg.Reclaimed,
			pg.Recovered(res.Options.JobFor, res.Options.Duration))
	}
	// A generous bound: the exact threshold is the command's check.
	if pg.Success() < 99 {
		t.Errorf("poolguard API success %.2f%%, failures %v", pg.Success(), pg.Failures)
	}
	for _, run := range res.Runs {
		if run.API == 0 || run.XactCommit < run.APIOK {
			t.Errorf("%s: %d API requests, %d succeeded, but the server committed %d transactions", run.Kind, run.API, run.APIOK, run.XactCommit)
		}
	}

	var sum, page bytes.Buffer
	if err := res.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.String(), first.CallSite) {
		t.Errorf("the summary does not name %s:\n%s", first.CallSite, sum.String())
	}
	if err := res.WriteHTML(&page, "poolguard replay"); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if n := strings.Count(html, "<svg"); n != 5*len(res.Runs) {
		t.Errorf("the report has %d charts, want %d", n, 5*len(res.Runs))
	}
	// Self-contained: no scripts, styles or images from elsewhere.
	if strings.Contains(strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, ""), "http") {
		t.Error("the report refers to the network")
	}
}

// TestReplayFleet runs a fleet of three replicas per pool, directly and
// through PgBouncer in transaction mode: with pgxpool the replica that runs
// the leaking job goes down and the others do not; with poolguard none
// does. Directly, the leaked connections stay on the server, idle; in transaction mode PgBouncer gives their server
// connections to other clients, but the pool is exhausted all the same.
func TestReplayFleet(t *testing.T) {
	for _, mode := range []string{"", "transaction"} {
		t.Run("bouncer="+mode, func(t *testing.T) {
			t.Parallel()
			opts := replay.Options{
				Duration: 8 * time.Second, JobFor: 5 * time.Second, PoolSize: 6, Rate: 30, Replicas: 3,
				LeakRate: 4, SyncRate: 8, Users: 100, GCEvery: 500 * time.Millisecond, MaxHold: 2 * time.Second,
				Kinds: []string{replay.KindPgxpool, replay.KindPoolguard},
			}
			if mode != "" {
				if server.External() {
					t.Skip("a bouncer needs a server pgtemp started")
				}
				opts.Bouncer = pgtemp.NewBouncer(t, server, pgtemp.BouncerOptions{Mode: mode})
			}
			res, err := replay.Replay(t.Context(), server, opts)
			if err != nil {
				t.Fatal(err)
			}
			var sum bytes.Buffer
			if err := res.WriteSummary(&sum); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if t.Failed() {
					t.Log("\n" + sum.String())
				}
			}()
			for _, run := range res.RunsOf(replay.KindPgxpool) {
				last := run.Samples[len(run.Samples)-1]
				switch {
				case run.Replica == 1 && (run.Exhausted < 0 || last.InUse != last.Max):
					t.Errorf("%s (the leaking job's): exhausted at %v, %d of %d in use at the end; want it down", run.Name, run.Exhausted, last.InUse, last.Max)
				case run.Replica == 1 && mode != "transaction" && last.Idle < last.Max:
					t.Errorf("%s: %d idle backends on the server at the end, want its %d leaked connections", run.Name, last.Idle, last.Max)
				case run.Replica > 1 && (run.Exhausted >= 0 || run.Success() < 99):
					t.Errorf("%s (no job): exhausted at %v, API success %.2f%%; want it serving", run.Name, run.Exhausted, run.Success())
				}
			}
			pg := res.RunsOf(replay.KindPoolguard)
			if len(pg) != 3 {
				t.Fatalf("%d poolguard replicas, want 3", len(pg))
			}
			for _, run := range pg {
				if run.Exhausted >= 0 || run.Success() < 99 {
					t.Errorf("%s: exhausted at %v, API success %.2f%%; want every replica serving", run.Name, run.Exhausted, run.Success())
				}
			}
			if _, ok := pg[0].FirstLeak(); !ok || pg[0].Reclaimed == 0 {
				t.Errorf("%s: no leak proven and reclaimed", pg[0].Name)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []replay.Options{
		{PoolSize: 1},
		{Rate: -1},
		{LeakRate: 20, SyncRate: 10},
		{Duration: time.Second, JobFor: 2 * time.Second},
		{Kinds: []string{"hikari"}},
		{Users: -5},
		{Replicas: -1},
		{Replicas: 1000},
	} {
		if _, err := replay.Replay(t.Context(), server, o); err == nil || !strings.HasPrefix(err.Error(), "replay: ") {
			t.Errorf("Replay(%+v) = %v, want a clear error", o, err)
		}
	}
}
