// Command userapi is the outage's service, done right: a user API and a
// background sync job on one poolguard pool, the job in a partition of its
// own that can never starve the API.
//
// Usage:
//
//	go run ./examples/userapi [-addr 127.0.0.1:8080] [-sync fixed|buggy] [-max-conns 100]
//	                          [-sync-max-hold 1m] [-prove-leaks=true]
//
// It connects to DATABASE_URL, or, when that is not set, starts a
// throw-away PostgreSQL (or uses POOLGUARD_DATABASE_URL) and seeds it with
// demo users, one in ten of them corrupt. Migrations are applied at start.
// -sync=buggy runs the outage's sync job, which leaks a connection on every
// corrupt user: watch the admin page and the log report each leak with the
// file:line that acquired it, and the connections come back. With
// -prove-leaks=false -sync-max-hold 0 they stay leaked, as a leak still
// referenced somewhere would, until an operator revokes them: the setting
// for trying poolguard's commands. SIGINT or SIGTERM shuts down
// gracefully.
//
// Besides the API it serves the pool's Prometheus metrics at /metrics and
// its admin handler (package admin) under /debug/pool/, which poolguard's
// commands read: "poolguard status http://127.0.0.1:8080/debug/pool/". The
// admin actions (pause, resume, revoke) are enabled when the environment
// variable POOLGUARD_ADMIN_TOKEN holds a token of at least 16 bytes;
// without it the handler is read-only. Keep -addr on a loopback address:
// reading the admin handler needs no token.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/examples/userapi/userapi"
	"github.com/poolguard/poolguard/internal/users"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/prom"
)

// envAdminToken names the environment variable holding the admin token,
// the one poolguard's commands read too.
const envAdminToken = "POOLGUARD_ADMIN_TOKEN"

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
	prove := flag.Bool("prove-leaks", true, "prove leaks by garbage collection; false keeps leaked connections held, as a leak still referenced somewhere would be, until revoked")
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
		// Over the server's Unix socket, in a directory only this user can
		// enter, no password is needed: this URL is safe to log, and is
		// what poolguard activity and terminate take as --dsn.
		socket := url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
			// Not Values.Encode, which would escape the directory's slashes.
			RawQuery: "host=" + strings.ReplaceAll(url.PathEscape(srv.SocketDir()), "%2F", "/") + "&port=" + strconv.Itoa(srv.Port())}
		shown := socket.String()
		if srv.External() {
			shown = srv.String() // its password redacted
		}
		log.Info("userapi: using a throw-away PostgreSQL; set DATABASE_URL to use yours", "dsn", shown)
	}

	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.MaxConns = *maxConns
	cfg.Logger = log
	cfg.DisableLeakTracking = !*prove
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		// Its partitions show as userapi/api and userapi/sync in
		// pg_stat_activity.
		cfg.ConnConfig.RuntimeParams["application_name"] = "userapi"
	}
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
	hopts, err := handlers(pool, log)
	if err != nil {
		pool.Close()
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		pool.Close()
		return err
	}
	log.Info("userapi: admin handler and metrics", "admin", "http://"+ln.Addr().String()+"/debug/pool/", "metrics", "http://"+ln.Addr().String()+"/metrics")
	return userapi.Run(ctx, ln, pool, userapi.RunOptions{
		Sync: syncFn, SyncEvery: *every, SyncPause: 10 * time.Millisecond, Logger: log,
		Handler: hopts,
	})
}

// handlers returns the HTTP options with the pool's metrics and admin
// handler.
func handlers(pool *poolguard.Pool, log *slog.Logger) (userapi.HandlerOptions, error) {
	col, err := prom.NewCollector(pool, prom.WithPoolName("userapi"))
	if err != nil {
		return userapi.HandlerOptions{}, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(col); err != nil {
		return userapi.HandlerOptions{}, err
	}
	token := os.Getenv(envAdminToken)
	adm, err := admin.New(pool, admin.Options{Token: token, Title: "userapi", Logger: log})
	if err != nil {
		return userapi.HandlerOptions{}, fmt.Errorf("%s: %w", envAdminToken, err)
	}
	if token == "" {
		log.Info("userapi: admin actions disabled: set " + envAdminToken + " to a token of 16 bytes or more to enable pause, resume and revoke")
	}
	return userapi.HandlerOptions{
		Logger:  log,
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Admin:   adm,
	}, nil
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
