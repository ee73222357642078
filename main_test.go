package poolguard_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
	"github.com/poolguard/poolguard/pooltest"
)

func TestMain(m *testing.M) { pooltest.VerifyTestMain(m) }

// newPool returns a pool for the test, configured by opt, and the recorder
// of its leak events. The tests of this package leak on purpose, so only a
// lease still held at the end fails them. srv, if not nil, is a server the
// test started for itself, to stop or restart it.
func newPool(t *testing.T, srv *pgtemp.Server, opt func(*poolguard.Config)) (*poolguard.Pool, *pooltest.Recorder) {
	t.Helper()
	ev := &pooltest.Recorder{}
	opts := []pooltest.Option{pooltest.Events(ev), pooltest.ExpectLeaks()}
	if srv != nil {
		opts = append(opts, pooltest.OnServer(srv), pooltest.NoServerCheck())
	}
	if opt != nil {
		opts = append(opts, pooltest.Configure(opt))
	}
	return pooltest.New(t, opts...), ev
}

// ctxTimeout returns a context that ends after d, cancelled at the end of
// the test.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// count runs a counting query on its own connection to srv, outside any
// pool under test.
func count(t *testing.T, srv *pgtemp.Server, sql string, args ...any) int {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	conn, err := pgx.Connect(ctx, srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// backendAlive reports whether pid is a backend of the shared server.
func backendAlive(t *testing.T, pid uint32) bool {
	t.Helper()
	return count(t, pooltest.Server(t), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int64(pid)) > 0
}

// fullSize checks that every one of the pool's connections can be acquired
// at once: no slot was lost.
func fullSize(t *testing.T, p *poolguard.Pool) {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	var conns []*poolguard.Conn
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range p.Config().MaxConns {
		c, err := p.Acquire(ctx)
		if err != nil {
			t.Fatalf("pool not back to full size: acquire %d of %d: %v", len(conns)+1, p.Config().MaxConns, err)
		}
		if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("connection %d unusable: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
}
