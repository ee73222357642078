package pgtemp

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestBouncer starts a PgBouncer in each mode in front of a server and
// checks that its DSN works, that it passes client and server through, and
// that a wrong password is refused.
func TestBouncer(t *testing.T) {
	s := New(t, Options{})
	if s.External() {
		t.Skip("a bouncer needs a server pgtemp started")
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			b := NewBouncer(t, s, BouncerOptions{Mode: mode})
			ctx := t.Context()
			conn, err := pgx.Connect(ctx, b.DSN())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var n int
			if err := conn.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
				t.Fatalf("query through pgbouncer = %d, %v", n, err)
			}
			wrong, err := pgx.ParseConfig(b.DSN())
			if err != nil {
				t.Fatal(err)
			}
			wrong.Password = "wrong"
			if c, err := pgx.ConnectConfig(ctx, wrong); err == nil {
				c.Close(ctx)
				t.Fatal("pgbouncer accepted a wrong password")
			}
			if got := b.String(); b.Mode() != mode || containsPassword(got, b.DSN()) {
				t.Errorf("String %q, Mode %q", got, b.Mode())
			}
		})
	}
	if _, err := StartBouncer(context.Background(), s, BouncerOptions{Mode: "statement"}); err == nil {
		t.Error("an unsupported mode was accepted")
	}
}

func containsPassword(s, dsn string) bool {
	cfg, err := pgx.ParseConfig(dsn)
	return err == nil && cfg.Password != "" && strings.Contains(s, cfg.Password)
}
