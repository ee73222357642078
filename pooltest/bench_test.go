package pooltest_test

import (
	"context"
	"testing"

	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/pooltest"
)

// BenchmarkNew measures what a test pays for its pool, once the shared
// server runs: a schema of its own (the default) or a database, each
// created and dropped, with one statement run; and, for comparison, a
// server of its own.
func BenchmarkNew(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []pooltest.Option
	}{
		{"schema", nil},
		{"database", []pooltest.Option{pooltest.FreshDatabase()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				ft := newFakeT(b)
				ft.run(func() {
					if _, err := pooltest.New(ft, bc.opts...).Exec(context.Background(), "SELECT 1"); err != nil {
						b.Fatal(err)
					}
				})
				ft.finish()
			}
		})
	}
	b.Run("server", func(b *testing.B) {
		for b.Loop() {
			srv, err := pgtemp.Start(context.Background(), pgtemp.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := srv.Exec(context.Background(), "SELECT 1"); err != nil {
				b.Fatal(err)
			}
			srv.Close()
		}
	})
}
