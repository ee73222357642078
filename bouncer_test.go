package poolguard_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/pooltest"
)

// TestBehindPgBouncer runs poolguard's features through a real PgBouncer
// in each pool mode: queries, the proof and reclamation of a leak, MaxHold
// revoking a query in flight (the cancel request goes through PgBouncer),
// and what the server sees of each partition. docs/pgbouncer.md says what
// works and why.
func TestBehindPgBouncer(t *testing.T) {
	srv := pgtemp.New(t, pgtemp.Options{})
	if srv.External() {
		t.Skip("a bouncer needs a server pgtemp started")
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			b := pgtemp.NewBouncer(t, srv, pgtemp.BouncerOptions{Mode: mode})
			ctx := ctxTimeout(t, time.Minute)
			ev := &pooltest.Recorder{}
			cfg, err := poolguard.ParseConfig(b.DSN())
			if err != nil {
				t.Fatal(err)
			}
			cfg.MaxConns = 4
			cfg.OnLeak = ev.Record
			cfg.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 2}, {Name: "sync", Max: 2, MaxHold: 300 * time.Millisecond}}
			p, err := poolguard.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			api, sync := p.Partition("api"), p.Partition("sync")

			// Queries, a batch, a copy and a transaction.
			if _, err := api.Exec(ctx, "CREATE TEMP TABLE IF NOT EXISTS scratch (n int)"); err != nil && mode == "session" {
				t.Fatal(err)
			}
			err = api.WithTx(ctx, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS bounced_"+mode+" (n int)"); err != nil {
					return err
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bounced_" + mode}, []string{"n"}, pgx.CopyFromRows([][]any{{1}, {2}})); err != nil {
					return err
				}
				batch := &pgx.Batch{}
				batch.Queue("INSERT INTO bounced_"+mode+" VALUES ($1)", 3)
				return tx.SendBatch(ctx, batch).Close()
			})
			if err != nil {
				t.Fatalf("a transaction through pgbouncer: %v", err)
			}
			var n int
			if err := api.QueryRow(ctx, "SELECT count(*) FROM bounced_"+mode).Scan(&n); err != nil || n != 3 {
				t.Fatalf("count = %d, %v", n, err)
			}

			// The server sees each partition's application_name.
			var app string
			if err := sync.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "poolguard/sync" {
				t.Errorf("the server's application_name for the sync partition = %q, %v", app, err)
			}

			// A leaked Conn is proven and its slot given back.
			func() {
				if _, err := sync.Acquire(ctx); err != nil { //leakcheck:ignore leaked on purpose
					t.Fatal(err)
				}
			}()
			wait.Until(t, "the leak proven", func() bool {
				runtime.GC()
				return len(ev.Of(poolguard.LeakUnreachable)) == 1 && sync.Stats().InUse == 0
			})

			// MaxHold revokes a query in flight; PgBouncer forwards the cancel.
			_, err = sync.Exec(ctx, "SELECT pg_sleep(30)")
			if !errors.Is(err, poolguard.ErrLeaseRevoked) {
				t.Fatalf("a query held past MaxHold: %v, want ErrLeaseRevoked", err)
			}
			wait.Until(t, "the server's query cancelled", func() bool {
				return count(t, srv, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'") == 0
			})

			// The backend process ID a connection reports is PgBouncer's,
			// not the server's.
			c, err := api.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var serverPID uint32
			if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&serverPID); err != nil {
				t.Fatal(err)
			}
			if c.PID() == serverPID {
				t.Errorf("the connection's PID %d is the server's: expected PgBouncer's own", c.PID())
			}
			c.Release()
		})
	}
}
