// Command userapi is the outage's service, done right: a user API and a
// background sync job on one poolguard pool, the job in a partition of its
// own that can never starve the API.
//
// Usage:
//
//	go run ./examples/userapi [-addr 127.0.0.1:8080] [-sync fixed|buggy] [-max-conns 100]
//
// It connects to DATABASE_URL, or, when that is not set, starts a
// throw-away PostgreSQL (or uses POOLGUARD_DATABASE_URL) and seeds it with
// demo users, one in ten of them corrupt. Migrations are applied at start.
// -sync=buggy runs the outage's sync job, which leaks a connection on every
// corrupt user: watch /debug/pool and the log report each leak with the
// file:line that acquired it, and the connections come back. SIGINT or
// SIGTERM shuts down gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/examples/userapi/userapi"
	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/pgtemp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "userapi:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", envOr("ADDR", "127.0.0.1:8080"), "address to listen on (env ADDR)")
	mode := flag.String("sync", "fixed", "sync job version: fixed, or buggy (the outage's leak)")
	every := flag.Duration("sync-every", 30*time.Second, "time between two passes of the sync job")
	maxConns := flag.Int("max-conns", 100, "connections in the pool; the sync job may use a tenth")
	maxHold := flag.Duration("sync-max-hold", time.Minute, "revoke a sync lease held longer than this (0: no limit)")
	flag.Parse()
	syncFn, err := users.ParseSyncMode(*mode)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dsn, seed := os.Getenv("DATABASE_URL"), false
	if dsn == "" {
		srv, err := pgtemp.Start(ctx, pgtemp.Options{Settings: map[string]string{"max_connections": fmt.Sprint(*maxConns + 20)}})
		if err != nil {
			return fmt.Errorf("DATABASE_URL is not set and no throw-away PostgreSQL could start: %w", err)
		}
		defer srv.Close()
		dsn, seed = srv.DSN(), !srv.External()
		log.Info("userapi: using a throw-away PostgreSQL; set DATABASE_URL to use yours")
	}

	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.MaxConns = *maxConns
	cfg.Logger = log
	if err := users.Configure(cfg, *maxHold); err != nil {
		return err
	}
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := setup(ctx, pool, seed); err != nil {
		pool.Close()
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		pool.Close()
		return err
	}
	return userapi.Run(ctx, ln, pool, userapi.RunOptions{
		Sync: syncFn, SyncEvery: *every, SyncPause: 10 * time.Millisecond, Logger: log,
		Handler: userapi.HandlerOptions{Logger: log},
	})
}

// setup migrates the schema and, on a throw-away server, adds demo users.
func setup(ctx context.Context, pool *poolguard.Pool, seed bool) error {
	return pool.With(ctx, func(c *poolguard.Conn) error {
		if err := users.Migrate(ctx, c); err != nil {
			return err
		}
		if !seed {
			return nil
		}
		return users.Seed(ctx, c, 100, 10)
	})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
