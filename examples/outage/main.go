// Command outage replays, in a few seconds, the connection leak that took an
// API down for 23 minutes: a sync job returns early on a validation error
// without releasing its pooled connection.
//
// It starts a throw-away PostgreSQL (or uses POOLGUARD_DATABASE_URL), runs
// the buggy job, and shows what poolguard does: the sync partition cannot
// starve the API, the timeout error names the leaking line, the garbage
// collector proves the leak, the report names the file:line of the acquire
// and the connections come back without a restart. Then it runs the fixed
// job, which leaks nothing.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/pgtemp"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "outage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output short and stable
			}
			return a
		},
	})))

	fmt.Println("== starting a throw-away PostgreSQL")
	srv, err := pgtemp.Start(ctx, pgtemp.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()
	cfg, err := poolguard.ParseConfig(srv.DSN())
	if err != nil {
		return err
	}
	// The outage's pool of 100, scaled down to 4: the API is guaranteed 2,
	// the sync job may hold at most 2.
	cfg.MaxConns = 4
	cfg.Partitions = []poolguard.PartitionConfig{
		{Name: "api", Guaranteed: 2},
		{Name: "sync", Max: 2},
	}
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	api, sync := pool.Partition("api"), pool.Partition("sync")
	// Six users; users 2, 4 and 6 have corrupt emails.
	if err := pool.With(ctx, func(c *poolguard.Conn) error { return users.Setup(ctx, c, 6, 2) }); err != nil {
		return err
	}
	log := slog.Default()

	fmt.Println("\n== the sync job, as it shipped: it returns early on a validation error")
	for id := range int64(4) {
		if err := users.SyncUserBuggy(ctx, sync, log, id+1); err != nil && !errors.Is(err, users.ErrValidation) {
			return err
		}
	}
	show(pool)

	fmt.Println("\n== the sync job is out of connections; its error names who holds them")
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = users.SyncUserBuggy(short, sync, log, 5)
	cancel()
	fmt.Println(err)

	fmt.Println("\n== meanwhile the API keeps serving from its guaranteed share")
	var n int
	if err := api.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return err
	}
	fmt.Printf("GET /users: %d users\n", n)

	fmt.Println("\n== the leaked connections are unreachable: the next garbage collection proves it")
	runtime.GC() // a running service collects within seconds; here we ask
	if err := waitFor(func() bool { return pool.Stats().Total().LeaksProven() == 2 }); err != nil {
		return err
	}
	if err := waitFor(func() bool { return pool.Stats().TotalConns <= 2 }); err != nil {
		return err
	}
	show(pool)

	fmt.Println("\n== the fixed job (With) on the same data: nothing leaks")
	for id := range int64(6) {
		if err := users.SyncUser(ctx, sync, log, id+1); err != nil && !errors.Is(err, users.ErrValidation) {
			return err
		}
	}
	show(pool)
	return nil
}

func show(pool *poolguard.Pool) {
	st := pool.Stats()
	for _, p := range st.Partitions {
		fmt.Printf("partition %-5s in use %d/%d  leaks proven %d  reclaimed %d\n",
			p.Name, p.InUse, p.Max, p.LeaksProven(), p.Reclaimed.Of(poolguard.ReclaimLeak))
	}
	fmt.Printf("server connections open: %d of %d\n", st.TotalConns, st.MaxConns)
}

// waitFor polls cond for up to five seconds.
func waitFor(cond func() bool) error {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return nil
		}
	}
	return errors.New("timed out waiting for the pool to settle")
}
