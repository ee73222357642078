package pooltest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/pooler"
	"github.com/poolguard/poolguard/pgtemp"
)

// An Option configures New or NoLeaks. Grace, Events, NoServerCheck and
// ExpectLeaks apply to both; FreshDatabase, OnServer, Configure and
// WithFaults to New only.
type Option func(*options)

type options struct {
	grace       time.Duration
	recorder    *Recorder
	noServer    bool
	expectLeaks bool
	freshDB     bool
	server      *pgtemp.Server
	faults      []Fault
	configure   []func(*poolguard.Config)
}

// DefaultGrace is how long NoLeaks waits, by default, for leases being
// released at the end of a test: by goroutines the test started, or by the
// pool's own background work.
const DefaultGrace = time.Second

func buildOptions(opts []Option) options {
	o := options{grace: DefaultGrace}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Grace sets how long NoLeaks waits for leases still held at the end of
// the test to be released before it reports them. A clean test does not
// wait.
func Grace(d time.Duration) Option { return func(o *options) { o.grace = max(d, 0) } }

// Events has NoLeaks report, with their stacks, the proven leaks that r
// recorded during the test. Without it NoLeaks still fails on them, from
// the pool's counters, but can say only how many there were. r must be
// the pool's OnLeak (or be called by it): NoLeaks waits a few seconds for
// the events of leaks the pool counted.
func Events(r *Recorder) Option { return func(o *options) { o.recorder = r } }

// NoServerCheck turns off the server side of NoLeaks: the search of
// pg_stat_activity for backends the pool left idle in a transaction. Use
// it when the test stops the server.
func NoServerCheck() Option { return func(o *options) { o.noServer = true } }

// ExpectLeaks has NoLeaks accept the leaks proven during the test, for a
// test of leak detection itself: it still fails on a lease held at the
// end, which a proven leak is not, since the pool reclaims it.
func ExpectLeaks() Option { return func(o *options) { o.expectLeaks = true } }

// NoLeaks fails the test if, when it ends, pool has a lease still held, a
// leak was proven during the test, or a backend the pool used is left idle
// in a transaction on the server. It registers the check with t.Cleanup,
// so call it at the start of the test:
//
//	pooltest.NoLeaks(t, pool)
//
// The failure names each leaked lease's partition, age, state and backend,
// and the stack that acquired it, trimmed to the test's own code. Leases
// still being released are waited for up to the grace period (see Grace).
//
// The check is of the whole pool: give each test that calls it a pool of
// its own, as New does. NoLeaks sees leases still held at the end, and
// counts proven leaks (a Conn garbage collected without Release, one that
// escaped its With scope, or one revoked at MaxHold) from the pool's
// statistics; to see those with their stacks, set a Recorder's Record
// method as the pool's Config.OnLeak and pass Events(recorder). New does
// both for you.
//
// The server check uses a connection of its own to the pool's server, not
// the pool under test.
func NoLeaks(t testing.TB, pool *poolguard.Pool, opts ...Option) {
	t.Helper()
	if pool == nil {
		t.Fatal("pooltest: NoLeaks: the pool is nil")
	}
	c := newCheck(pool, buildOptions(opts))
	t.Cleanup(func() {
		t.Helper() // the failure points at the call of NoLeaks (or New)
		defer c.st.release()
		if msg := c.run(); msg != "" {
			t.Error(msg)
		}
	})
}

// check is one pool's leak check, from its start to its end.
type check struct {
	pool     *poolguard.Pool
	o        options
	st       *state
	proven   int64 // proven leaks before the check started
	recorded int   // events the recorder had then
	pooler   bool  // the pool reaches the server through a pooler (see idleInTx)
}

func newCheck(pool *poolguard.Pool, o options) *check {
	c := &check{pool: pool, o: o, st: track(pool), proven: pool.Stats().Total().LeaksProven()}
	if o.recorder != nil {
		c.recorded = o.recorder.len()
	}
	return c
}

// findings is what a check observed at one moment.
type findings struct {
	leases []poolguard.LeaseInfo
	proven int64                 // proven leaks since the start
	events []poolguard.LeakEvent // the recorder's proven leaks since the start
	idleTx []idleBackend
	err    error // the server could not be checked
}

func (f *findings) clean() bool {
	return len(f.leases) == 0 && f.proven == 0 && len(f.idleTx) == 0 && f.err == nil
}

// settled reports whether waiting longer cannot make the pool clean.
func (f *findings) settled() bool {
	return f.proven > 0 && len(f.leases) == 0 && len(f.idleTx) == 0 && f.err == nil
}

type idleBackend struct {
	pid     int64
	app     string
	xactAge time.Duration
}

// run waits up to the grace period for the pool to be clean and returns a
// failure message, or "" if it is clean. Events of leaks already proven
// are on their way: it waits longer for those, so that the message has
// their stacks.
func (c *check) run() string {
	start := time.Now()
	var admin *pgx.Conn
	defer func() {
		if admin != nil {
			_ = admin.Close(context.Background())
		}
	}()
	var f findings
	for {
		f = findings{leases: c.pool.Leases()}
		if !c.o.expectLeaks {
			f.proven = c.pool.Stats().Total().LeaksProven() - c.proven
			if c.o.recorder != nil {
				f.events = c.o.recorder.proven(c.recorded)
			}
		}
		if !c.o.noServer {
			if pids, seen := c.backends(f.leases); len(pids) > 0 {
				f.idleTx, admin, f.err = c.idleInTx(admin, pids, seen)
			}
		}
		waited := time.Since(start)
		eventsDue := c.o.recorder != nil && int64(len(f.events)) < f.proven
		switch {
		case f.clean(), f.settled() && !eventsDue,
			waited >= c.o.grace && (!eventsDue || waited >= eventWait):
			if f.clean() {
				return ""
			}
			return c.message(&f)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// eventWait bounds the wait for the events of leaks already counted.
const eventWait = 10 * time.Second

// backends returns the backends of the pool, and when each was first seen:
// those that ran a statement while the check was installed, and those of
// the leases still held.
func (c *check) backends(leases []poolguard.LeaseInfo) ([]int64, []time.Time) {
	pids, seen := c.st.backends()
	for _, l := range leases {
		pids = append(pids, int64(l.PID))
		seen = append(seen, time.Now())
	}
	return pids, seen
}

// idleInTx returns the backends among pids that the server shows idle in
// a transaction. A backend that started after its PID was seen is another
// process that reused the PID, and is left out (with a minute's margin
// for the clocks of a remote server). Behind a pooler such as PgBouncer
// the PIDs are the pooler's, not the server's, and nothing is checked.
// It connects admin if needed.
func (c *check) idleInTx(admin *pgx.Conn, pids []int64, seen []time.Time) ([]idleBackend, *pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if admin == nil {
		var err error
		if admin, err = pgx.ConnectConfig(ctx, adminConfig(c.pool)); err != nil {
			return nil, nil, fmt.Errorf("connect to the server: %w", err)
		}
		if c.pooler, err = pooler.Between(ctx, admin); err != nil {
			return nil, admin, fmt.Errorf("query the server: %w", err)
		}
	}
	if c.pooler {
		return nil, admin, nil
	}
	rows, err := admin.Query(ctx, `SELECT a.pid, coalesce(a.application_name, ''), coalesce(extract(epoch FROM now() - a.xact_start), 0)
		FROM pg_stat_activity a JOIN unnest($1::bigint[], $2::timestamptz[]) AS p(pid, seen)
			ON a.pid = p.pid AND a.backend_start <= p.seen + interval '1 minute'
		WHERE a.datname = current_database() AND a.state LIKE 'idle in transaction%'
		ORDER BY a.pid`, pids, seen)
	if err != nil {
		return nil, admin, fmt.Errorf("query pg_stat_activity: %w", err)
	}
	var out []idleBackend
	for rows.Next() {
		var b idleBackend
		var secs float64
		if err := rows.Scan(&b.pid, &b.app, &secs); err != nil {
			return nil, admin, fmt.Errorf("read pg_stat_activity: %w", err)
		}
		b.xactAge = time.Duration(secs * float64(time.Second))
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, admin, fmt.Errorf("read pg_stat_activity: %w", err)
	}
	return out, admin, nil
}

func (c *check) message(f *findings) string {
	var b strings.Builder
	if n := len(f.leases); n > 0 {
		fmt.Fprintf(&b, "pooltest: %d %s still held at the end of the test (after waiting %v for releases):",
			n, plural(n, "connection", "connections"), c.o.grace)
		for _, l := range f.leases {
			fmt.Fprintf(&b, "\n\tpartition %q, held %v, %s, backend PID %d, acquired at %s in %s",
				l.Partition, roundAge(l.Age), l.State, l.PID, l.CallSite, l.Function)
			writeStack(&b, l.Stack)
		}
	}
	if f.proven > 0 {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "pooltest: %d %s proven during the test:", f.proven, plural(int(f.proven), "leak", "leaks"))
		for _, ev := range f.events {
			fmt.Fprintf(&b, "\n\t%s on partition %q: held %v, backend PID %d, acquired at %s in %s",
				ev.Kind, ev.Partition, roundAge(ev.Age), ev.PID, ev.CallSite, ev.Function)
			writeStack(&b, ev.Stack)
		}
		if c.o.recorder == nil {
			b.WriteString("\n\t(no stacks: pass pooltest.Events with the Recorder set as the pool's OnLeak)")
		}
	}
	for _, ib := range f.idleTx {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "pooltest: backend PID %d (application_name %q) left idle in transaction on the server, transaction open %v",
			ib.pid, ib.app, roundAge(ib.xactAge))
	}
	if f.err != nil {
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "pooltest: could not check the server for backends left idle in transaction (pooltest.NoServerCheck turns this off): %v", f.err)
	}
	if fired := c.st.firedText(); fired != "" {
		b.WriteString("\n" + fired)
	}
	return b.String()
}

// writeStack writes the frames of a stack down to the test function,
// leaving out the testing package and the runtime.
func writeStack(b *strings.Builder, st []runtime.Frame) {
	for _, f := range st {
		if strings.HasPrefix(f.Function, "testing.") || strings.HasPrefix(f.Function, "runtime.") {
			continue
		}
		fmt.Fprintf(b, "\n\t\t%s\n\t\t\t%s:%d", f.Function, f.File, f.Line)
	}
}

func roundAge(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Recorder records a pool's leak events, so that NoLeaks can report the
// leaks proven during a test with the stacks that acquired them. Set its
// Record method as the pool's Config.OnLeak and pass Events(recorder) to
// NoLeaks. Its methods may be called from several goroutines at once.
type Recorder struct {
	mu     sync.Mutex
	events []poolguard.LeakEvent
}

// Record records ev. Its signature is that of Config.OnLeak.
func (r *Recorder) Record(ev poolguard.LeakEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// Events returns the events recorded so far, oldest first.
func (r *Recorder) Events() []poolguard.LeakEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]poolguard.LeakEvent(nil), r.events...)
}

// Of returns the events of kind k recorded so far, oldest first.
func (r *Recorder) Of(k poolguard.LeakKind) []poolguard.LeakEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []poolguard.LeakEvent
	for _, ev := range r.events {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

func (r *Recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// proven returns the proven leaks recorded from index from on.
func (r *Recorder) proven(from int) []poolguard.LeakEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []poolguard.LeakEvent
	for _, ev := range r.events[from:] {
		if ev.Kind.Proven() {
			out = append(out, ev)
		}
	}
	return out
}
