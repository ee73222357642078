package poolguard_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
)

// exampleDSN starts a throw-away server for an example. A service would
// use its own connection string instead.
func exampleDSN() (dsn string, stop func()) {
	srv, err := pgtemp.Start(context.Background(), pgtemp.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return srv.DSN(), func() { srv.Close() }
}

func ExampleNew() {
	dsn, stop := exampleDSN()
	defer stop()
	ctx := context.Background()

	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 10
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	var greeting string
	if err := pool.QueryRow(ctx, "SELECT 'hello'").Scan(&greeting); err != nil {
		log.Fatal(err)
	}
	fmt.Println(greeting)
	// Output: hello
}

func ExamplePool_With() {
	dsn, stop := exampleDSN()
	defer stop()
	ctx := context.Background()
	pool, err := poolguard.Connect(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	errInvalid := errors.New("invalid")
	err = pool.With(ctx, func(c *poolguard.Conn) error {
		var n int
		if err := c.QueryRow(ctx, "SELECT 41 + 1").Scan(&n); err != nil {
			return err
		}
		if n != 41 {
			return errInvalid // an early return: the connection is released all the same
		}
		return nil
	})
	fmt.Println(err, pool.Stats().Total().InUse)
	// Output: invalid 0
}

func ExamplePool_WithTx() {
	dsn, stop := exampleDSN()
	defer stop()
	ctx := context.Background()
	pool, err := poolguard.Connect(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	if _, err := pool.Exec(ctx, "CREATE TABLE accounts (id int PRIMARY KEY, balance int)"); err != nil {
		log.Fatal(err)
	}
	err = pool.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO accounts VALUES (1, 100), (2, 0)")
		return err // nil commits; an error or a panic rolls back
	})
	if err != nil {
		log.Fatal(err)
	}
	var total int
	if err := pool.QueryRow(ctx, "SELECT sum(balance) FROM accounts").Scan(&total); err != nil {
		log.Fatal(err)
	}
	fmt.Println(total)
	// Output: 100
}

func ExamplePool_Partition() {
	dsn, stop := exampleDSN()
	defer stop()
	ctx := context.Background()

	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 10
	cfg.Partitions = []poolguard.PartitionConfig{
		{Name: "api", Guaranteed: 8}, // eight connections are always the API's
		{Name: "sync", Max: 2},       // the background job never holds more than two
	}
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	sync := pool.Partition("sync")
	err = sync.With(ctx, func(c *poolguard.Conn) error {
		var app string
		err := c.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&app)
		fmt.Println(app)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	st := sync.Stats()
	fmt.Println(st.Name, st.Max, st.InUse)
	// Output:
	// poolguard/sync
	// sync 2 0
}

func ExampleAcquireError() {
	dsn, stop := exampleDSN()
	defer stop()
	ctx := context.Background()
	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := poolguard.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	held, err := pool.Acquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer held.Release()

	// With a deadline already passed, the refusal is immediate; after a
	// wait, the message also names the call sites holding the connections.
	expired, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	_, err = pool.Acquire(expired) //leakcheck:ignore the deadline has passed: this acquire fails
	var ae *poolguard.AcquireError
	fmt.Println(errors.Is(err, poolguard.ErrAcquireTimeout), errors.As(err, &ae), ae.InUse, ae.Holders[0].Count)
	// Output: true true 1 1
}
