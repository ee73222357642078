package replay_test

import (
	"context"
	"log"
	"os"

	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/replay"
)

// Replay the outage with the defaults (pools of 20, a minute), print the
// summary and write the HTML report.
func ExampleReplay() {
	ctx := context.Background()
	srv, err := pgtemp.Start(ctx, pgtemp.Options{Settings: map[string]string{"max_connections": "100"}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	res, err := replay.Replay(ctx, srv, replay.Options{Progress: os.Stdout})
	if err != nil {
		log.Fatal(err)
	}
	res.WriteSummary(os.Stdout)
	f, err := os.Create("replay.html")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := res.WriteHTML(f, "poolguard replay"); err != nil {
		log.Fatal(err)
	}
}
