package poolguard_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
)

// server is shared by the tests that do not stop or restart it.
var server *pgtemp.Server

func TestMain(m *testing.M) {
	os.Exit(pgtemp.Main(m, pgtemp.Options{Settings: map[string]string{"max_connections": "200"}}, func(s *pgtemp.Server) { server = s },
		func() error { return goleak.Find() }))
}

// events collects the leak events of a pool.
type events struct {
	mu  sync.Mutex
	evs []poolguard.LeakEvent
}

func (e *events) add(ev poolguard.LeakEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// of returns the events of kind k.
func (e *events) of(k poolguard.LeakKind) []poolguard.LeakEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []poolguard.LeakEvent
	for _, ev := range e.evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// newPool returns a pool on srv (the shared server if nil), configured by
// opt, closed at the end of the test, and the events it reports.
func newPool(t *testing.T, srv *pgtemp.Server, opt func(*poolguard.Config)) (*poolguard.Pool, *events) {
	t.Helper()
	if srv == nil {
		srv = server
	}
	cfg, err := poolguard.ParseConfig(srv.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 4
	ev := &events{}
	cfg.OnLeak = ev.add
	cfg.Logger = discardLogger()
	if opt != nil {
		opt(cfg)
	}
	p, err := poolguard.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, ev
}

// eventually polls cond until it holds (see wait.Until).
var eventually = wait.Until

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
	return count(t, server, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int64(pid)) > 0
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

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
