package userapi_test

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/examples/userapi/userapi"
	"github.com/poolguard/poolguard/internal/wait"
	"github.com/poolguard/poolguard/pgtemp"
)

// server is shared by all tests; each test has a database of its own.
var server *pgtemp.Server

func TestMain(m *testing.M) {
	os.Exit(pgtemp.Main(m, pgtemp.Options{}, func(s *pgtemp.Server) { server = s },
		func() error { return goleak.Find() }))
}

var dbSeq atomic.Int64

// newDB creates a migrated database holding users users, every
// corruptEvery-th corrupt, and returns its URL.
func newDB(t *testing.T, users, corruptEvery int) string {
	t.Helper()
	ctx := t.Context()
	dsn, err := server.CreateDatabase(ctx, fmt.Sprintf("userapi_%d", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := userapi.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := userapi.Seed(ctx, conn, users, corruptEvery); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// leaks collects a pool's leak events.
type leaks struct {
	mu  sync.Mutex
	evs []poolguard.LeakEvent
}

func (l *leaks) add(ev poolguard.LeakEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *leaks) all() []poolguard.LeakEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]poolguard.LeakEvent(nil), l.evs...)
}

// newPool returns the service's pool of maxConns on dsn, closed at the end
// of the test, and its leak events.
func newPool(t *testing.T, dsn string, maxConns int) (*poolguard.Pool, *leaks) {
	t.Helper()
	cfg, err := poolguard.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	cfg.CloseTimeout = time.Second
	ev := &leaks{}
	cfg.OnLeak = ev.add
	cfg.Logger = slog.New(slog.DiscardHandler) // events are checked through OnLeak
	if err := userapi.Configure(cfg, 0); err != nil {
		t.Fatal(err)
	}
	pool, err := poolguard.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, ev
}

// waitFor polls cond until it holds (see wait.Until).
var waitFor = wait.Until

// buggyAcquireLine returns the line of job.go holding the buggy acquire.
func buggyAcquireLine(t *testing.T) int {
	t.Helper()
	src, err := os.ReadFile("job.go")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(src), "\n") {
		if strings.Contains(line, "the buggy acquire") {
			return i + 1
		}
	}
	t.Fatal("job.go has no line marked as the buggy acquire")
	return 0
}
