package userapi_test

import (
	"context"
	"log"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/examples/userapi/userapi"
	"github.com/poolguard/poolguard/internal/users"
)

// The service's main: a pool of 100 split into "api" (guaranteed 90) and
// "sync" (at most 10, leases revoked after a minute), the schema migrated,
// the API and the fixed sync job run until an interrupt.
func ExampleRun() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := poolguard.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 100
	if err := users.Configure(cfg, time.Minute); err != nil {
		log.Fatal(err)
	}
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := pool.With(ctx, func(c *poolguard.Conn) error { return users.Migrate(ctx, c) }); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	if err := userapi.Run(ctx, ln, pool, userapi.RunOptions{Sync: users.SyncUser}); err != nil {
		log.Fatal(err)
	}
}
