package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/admin"
	"github.com/poolguard/poolguard/pgtemp"
)

// A service serves the admin page on a loopback address of its own, apart
// from its public API, so that only someone on the host (or through an
// SSH tunnel) can reach it.
func Example_loopback() {
	ctx := context.Background()
	pool, err := poolguard.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	h, err := admin.New(pool, admin.Options{
		Title: "userapi",
		// Enables pause, resume and revoke; leave empty for a read-only
		// page. At least 16 bytes: a long random string, as from
		// crypto/rand.Text.
		Token: os.Getenv("POOL_ADMIN_TOKEN"),
		// If set, reading the page's data needs it (or Token) too.
		ReadToken: os.Getenv("POOL_ADMIN_READ_TOKEN"),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/pool/", http.StripPrefix("/debug/pool", h))
	srv := &http.Server{
		Addr:              "127.0.0.1:6061", // loopback only, whatever the tokens
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Print(err)
		}
	}()
	defer srv.Shutdown(ctx)
	// ... the service runs; open http://127.0.0.1:6061/debug/pool/
}

// The snapshot names who holds the connections.
func ExampleNew() {
	ctx := context.Background()
	pg, err := pgtemp.Start(ctx, pgtemp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()
	cfg, err := poolguard.ParseConfig(pg.DSN())
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 4
	cfg.Partitions = []poolguard.PartitionConfig{{Name: "api", Guaranteed: 2}, {Name: "sync", Max: 2}}
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	held, err := pool.Partition("sync").Acquire(ctx) // and forgotten
	if err != nil {
		log.Fatal(err)
	}
	defer held.Release()

	h, err := admin.New(pool, admin.Options{})
	if err != nil {
		log.Fatal(err)
	}
	web := httptest.NewServer(h)
	defer web.Close()
	resp, err := http.Get(web.URL + "/snapshot")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var snap admin.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		log.Fatal(err)
	}
	for _, p := range snap.Partitions {
		fmt.Printf("%s: %d/%d in use\n", p.Name, p.InUse, p.Max)
	}
	for _, c := range snap.CallSites {
		fmt.Printf("%d held by %s\n", c.Count, c.Function)
	}
	// Output:
	// api: 0/4 in use
	// sync: 1/2 in use
	// 1 held by admin_test.ExampleNew
}

func ExampleRedactSQL() {
	fmt.Println(admin.RedactSQL("SELECT * FROM users WHERE email = 'alice@example.com' AND id > 42", 0))
	fmt.Println(admin.RedactSQL("UPDATE users SET synced_at = now() WHERE id = $1", 24))
	// Output:
	// SELECT * FROM users WHERE email = ? AND id > ?
	// UPDATE users SET synced…
}
