package stdlib_test

import (
	"context"
	"fmt"
	"log"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/stdlib"
)

func ExampleOpenDB() {
	// A throw-away server for the example; a service uses its own DSN.
	srv, err := pgtemp.Start(context.Background(), pgtemp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	cfg, err := poolguard.ParseConfig(srv.DSN())
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 10
	cfg.Partitions = []poolguard.PartitionConfig{
		{Name: "api", Guaranteed: 8},
		{Name: "migrations", Max: 2}, // database/sql's calls never hold more than 2
	}
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	db := stdlib.OpenDB(pool.Partition("migrations"))
	defer db.Close() // the DB, not the pool

	if _, err := db.ExecContext(ctx, "CREATE TABLE greetings (text text)"); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO greetings VALUES ($1)", "hello"); err != nil {
		log.Fatal(err)
	}
	var greeting string
	if err := db.QueryRowContext(ctx, "SELECT text FROM greetings").Scan(&greeting); err != nil {
		log.Fatal(err)
	}
	st := pool.Partition("migrations").Stats()
	fmt.Println(greeting, st.Acquires, st.InUse)
	// Output: hello 3 0
}
