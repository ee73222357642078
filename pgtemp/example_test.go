package pgtemp_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard/pgtemp"
)

func ExampleStart() {
	ctx := context.Background()
	srv, err := pgtemp.Start(ctx, pgtemp.Options{
		Settings: map[string]string{"max_connections": "200"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)

	var maxConns string
	if err := conn.QueryRow(ctx, "SHOW max_connections").Scan(&maxConns); err != nil {
		log.Fatal(err)
	}
	fmt.Println("max_connections:", maxConns)
	// Output: max_connections: 200
}
