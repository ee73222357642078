package soak

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
)

// appPrefix starts the application_name of every connection of the
// pool: each partition's is appPrefix followed by its name.
const appPrefix = "soak/"

// monitor counts the pool's connections on the server, from
// pg_stat_activity on a connection of its own, and checks them against
// MaxConns and each partition's Max.
type monitor struct {
	t        *testing.T
	srv      *pgtemp.Server
	pool     *poolguard.Pool
	maxConns int
	maxPart  map[string]int // by application_name

	mu        sync.Mutex
	samples   int
	peak      int
	peakPart  map[string]int
	transient int // samples over a limit that the next samples did not confirm
	confirmed int
}

func newMonitor(t *testing.T, srv *pgtemp.Server, pool *poolguard.Pool, maxPart map[string]int) *monitor {
	return &monitor{t: t, srv: srv, pool: pool, maxConns: pool.Config().MaxConns, maxPart: maxPart, peakPart: map[string]int{}}
}

// checkStats checks the pool's own counts, which it takes in one step:
// never more connections than MaxConns, closing ones included, and never
// more leases in a partition than its Max.
func (m *monitor) checkStats() {
	st := m.pool.Stats()
	if st.TotalConns > st.MaxConns {
		m.t.Errorf("the pool counts %d connections, MaxConns is %d", st.TotalConns, st.MaxConns)
	}
	for _, ps := range st.Partitions {
		if ps.InUse > ps.Max {
			m.t.Errorf("partition %q holds %d leases, its Max is %d", ps.Name, ps.InUse, ps.Max)
		}
	}
}

// backends maps the pool's backends on the server to their
// application_name.
type backends map[int64]string

func (m *monitor) sample(ctx context.Context, conn *pgx.Conn) (backends, error) {
	var pid int64
	var app string
	bs := backends{}
	rows, _ := conn.Query(ctx, "SELECT pid, application_name FROM pg_stat_activity WHERE application_name LIKE $1", appPrefix+"%")
	_, err := pgx.ForEachRow(rows, []any{&pid, &app}, func() error {
		bs[pid] = app
		return nil
	})
	return bs, err
}

// over returns what in bs is over a limit, or "".
func (m *monitor) over(bs backends) string {
	if len(bs) > m.maxConns {
		return fmt.Sprintf("%d connections of the pool, MaxConns is %d", len(bs), m.maxConns)
	}
	per := map[string]int{}
	for _, app := range bs {
		per[app]++
	}
	for _, app := range slices.Sorted(maps.Keys(per)) {
		if lim, ok := m.maxPart[app]; ok && per[app] > lim {
			return fmt.Sprintf("%d connections named %q, its partition's Max is %d", per[app], app, lim)
		}
	}
	return ""
}

// confirmRounds and confirmGap are how many more samples, and how far
// apart, must all still show the same backends over a limit for the
// excess to count. A backend whose client has closed its connection
// takes a moment to leave pg_stat_activity; the pool has given its place
// back by then, so an excess that vanishes is not the pool's.
const (
	confirmRounds = 8
	confirmGap    = 250 * time.Millisecond
)

// run samples until stop is closed.
func (m *monitor) run(stop <-chan struct{}) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		m.checkStats()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if conn == nil || conn.IsClosed() {
			var err error
			if conn, err = connect(ctx, m.srv, "soak-monitor"); err != nil {
				conn = nil
				cancel()
				continue // the server is restarting
			}
		}
		bs, err := m.sample(ctx, conn)
		if err == nil {
			m.record(bs)
			if what := m.over(bs); what != "" {
				m.confirm(ctx, conn, bs, what)
			}
		}
		cancel()
	}
}

func (m *monitor) record(bs backends) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples++
	m.peak = max(m.peak, len(bs))
	per := map[string]int{}
	for _, app := range bs {
		per[app]++
	}
	for app, n := range per {
		m.peakPart[app] = max(m.peakPart[app], n)
	}
}

// confirm samples again: the excess is the pool's if the same backends,
// over the limit, are all still there every time.
func (m *monitor) confirm(ctx context.Context, conn *pgx.Conn, first backends, what string) {
	still := maps.Clone(first)
	for range confirmRounds {
		time.Sleep(confirmGap)
		bs, err := m.sample(ctx, conn)
		if err != nil {
			still = nil
			break
		}
		maps.DeleteFunc(still, func(pid int64, _ string) bool { _, ok := bs[pid]; return !ok })
		if m.over(still) == "" {
			break
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.over(still) == "" {
		m.transient++
		return
	}
	m.confirmed++
	m.t.Errorf("the server holds more connections of the pool than allowed: %s, for %d samples %v apart (backends %v)",
		what, confirmRounds+1, confirmGap, slices.Sorted(maps.Keys(still)))
}

// count returns the number of the pool's backends on the server now.
func count(ctx context.Context, srv *pgtemp.Server) (int, error) {
	return countWhere(ctx, srv.DSN(), "application_name LIKE $1", appPrefix+"%")
}

// countWhere counts the backends of the server at dsn that match where,
// on a connection of its own.
func countWhere(ctx context.Context, dsn, where string, args ...any) (int, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, err
	}
	cfg.RuntimeParams["application_name"] = "soak-check"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE "+where, args...).Scan(&n)
	return n, err
}
