package pool

import (
	"context"
	"log"
	"os"
	"testing"

	"github.com/poolguard/poolguard"
)

// Calls that never return, as the ctrlflow pass finds them.

// die never returns: it ends the process.
func die(msg string) {
	log.Print(msg)
	os.Exit(2)
}

func diesInHelper(ctx context.Context, p *poolguard.Pool, ok bool) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	if !ok {
		die("not ok")
	}
	conn.Release()
}

func panicsInLog(ctx context.Context, p *poolguard.Pool, ok bool) {
	conn, err := p.Acquire(ctx) // want `connection acquired here is not released on the panic`
	if err != nil {
		return
	}
	if !ok {
		log.Panicf("not ok")
	}
	conn.Release()
}

func fatalThroughTB(ctx context.Context, tb testing.TB, p *poolguard.Pool) {
	conn, err := p.Acquire(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if validate(conn) != nil {
		tb.Fatalf("ping")
	}
	conn.Release()
}
