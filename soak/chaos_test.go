package soak

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/pgtemp"
)

// The faults the chaos goroutine injects.
const (
	faultTerminateIdle    = "terminate_idle"    // pg_terminate_backend on an idle backend of the pool
	faultTerminateBusy    = "terminate_busy"    // ... on one running a statement or in a transaction
	faultRestartFast      = "restart_fast"      // the server's fast shutdown, then a start
	faultRestartImmediate = "restart_immediate" // its immediate shutdown (SIGQUIT), crash recovery on start
	faultPause            = "pause"             // a partition paused for a moment
	faultRevoke           = "revoke"            // Pool.Revoke of a lease offered by the workload, or of a dropped one
	faultLockRow          = "lock_row"          // an account's row locked for a moment: statements on it stall
	faultLockTable        = "lock_table"        // the accounts table locked: every ledger write stalls
	faultGC               = "gc"                // a garbage collection: dropped leases are proven
)

var faultKinds = []string{faultTerminateIdle, faultTerminateBusy, faultRestartFast, faultRestartImmediate,
	faultPause, faultRevoke, faultLockRow, faultLockTable, faultGC}

// chaos injects faults into the pool and its server from one goroutine.
type chaos struct {
	t        *testing.T
	srv      *pgtemp.Server
	pool     *poolguard.Pool
	rec      *recorder
	faults   map[string]*counter
	restarts atomic.Int64 // restarts the pool came through
	conn     *pgx.Conn    // the chaos goroutine's own connection, not the pool's
	offered  *offered     // leases the workload offers for revocation
	stop     <-chan struct{}
}

func newChaos(t *testing.T, srv *pgtemp.Server, pool *poolguard.Pool, rec *recorder, o *offered, stop <-chan struct{}) *chaos {
	return &chaos{t: t, srv: srv, pool: pool, rec: rec, offered: o, faults: counters(faultKinds), stop: stop}
}

// run injects faults until stop is closed, and restarts the server every
// restartEvery, alternating fast and immediate shutdowns. It leaves the
// server running and every partition resumed.
func (c *chaos) run(restartEvery time.Duration) {
	defer c.closeConn()
	next := time.Now().Add(restartEvery)
	immediate := false
	for c.sleep(time.Duration(20+rand.IntN(130)) * time.Millisecond) {
		if time.Now().After(next) {
			c.restart(immediate)
			immediate = !immediate
			next = time.Now().Add(restartEvery)
			continue
		}
		switch r := rand.IntN(100); {
		case r < 25:
			c.terminate()
		case r < 50:
			c.revoke()
		case r < 65:
			c.pause()
		case r < 80:
			c.lock(r < 75)
		default:
			runtime.GC()
			c.faults[faultGC].ok.Add(1)
		}
	}
}

// sleep waits for d, and reports false if stop was closed first.
func (c *chaos) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.stop:
		return false
	case <-t.C:
		return true
	}
}

// admin returns the chaos goroutine's connection, connecting again after
// a restart or a failure.
func (c *chaos) admin(ctx context.Context) (*pgx.Conn, error) {
	if c.conn != nil && !c.conn.IsClosed() {
		return c.conn, nil
	}
	c.closeConn()
	conn, err := connect(ctx, c.srv, "soak-chaos")
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return conn, nil
}

func (c *chaos) closeConn() {
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
}

// connect opens a connection to srv outside the pool, named app in
// pg_stat_activity.
func connect(ctx context.Context, srv *pgtemp.Server, app string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(srv.DSN())
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = app
	cfg.ConnectTimeout = 10 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

// terminate ends a random backend of the pool, idle or busy.
func (c *chaos) terminate() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.admin(ctx)
	if err != nil {
		return
	}
	type backend struct {
		pid   int64
		state string
	}
	var bs []backend
	var b backend
	rows, _ := conn.Query(ctx, "SELECT pid, coalesce(state, '') FROM pg_stat_activity WHERE application_name LIKE $1", appPrefix+"%")
	_, err = pgx.ForEachRow(rows, []any{&b.pid, &b.state}, func() error {
		bs = append(bs, b)
		return nil
	})
	if err != nil || len(bs) == 0 {
		return
	}
	// Half the time an idle backend, if there is one: under load most
	// are busy.
	if rand.IntN(2) == 0 {
		if idle := slices.DeleteFunc(slices.Clone(bs), func(b backend) bool { return b.state != "idle" }); len(idle) > 0 {
			bs = idle
		}
	}
	b = bs[rand.IntN(len(bs))]
	kind := faultTerminateBusy
	if b.state == "idle" {
		kind = faultTerminateIdle
	}
	_, err = conn.Exec(ctx, "SELECT pg_terminate_backend($1)", b.pid)
	c.faults[kind].add(err)
}

// revoke takes back a random lease with Pool.Revoke, as an operator would:
// a lease the workload offers (held between calls, with a call in flight,
// or inside a transaction), or a dropped Conn not yet proven leaked.
//
// Revoke names a lease by its backend, not by its generation, and the
// engine lists a lease as soon as it grants it, while its acquire still
// checks the connection (which a revocation interrupts, see the root
// package's TestRevokeDuringHealthCheck). So that the accounting knows
// which lease it took back, the lease must be past its acquire and stay
// the same between the choice and the call: the
// workload offers a lease only once a call has entered it, and withdraws
// the offer under the same lock before releasing it; a dropped Conn is
// offered once its call has entered it, and its connection is never
// reused.
func (c *chaos) revoke() {
	live := map[uint32]bool{}
	for _, l := range c.pool.Leases() {
		if siteKind(l.CallSite) == leakDroppedConn {
			live[l.PID] = true
		}
	}
	c.offered.mu.Lock()
	defer c.offered.mu.Unlock()
	var pids []uint32
	for pid := range c.offered.dropped {
		if !live[pid] {
			// Proven or revoked: forgotten before the server may give
			// its PID to another backend.
			delete(c.offered.dropped, pid)
			continue
		}
		pids = append(pids, pid)
	}
	for pid := range c.offered.pids {
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		return
	}
	pid := pids[rand.IntN(len(pids))]
	if c.pool.Revoke(pid) {
		c.rec.revoked(pid)
		c.faults[faultRevoke].ok.Add(1)
	}
}

// offered are the leases the workload offers for revocation, by backend.
type offered struct {
	mu      sync.Mutex
	pids    map[uint32]bool // held, withdrawn before release
	dropped map[uint32]bool // dropped Conns, until proven or revoked
}

func newOffered() *offered {
	return &offered{pids: map[uint32]bool{}, dropped: map[uint32]bool{}}
}

func (o *offered) add(pid uint32) {
	o.mu.Lock()
	o.pids[pid] = true
	o.mu.Unlock()
}

// remove withdraws the offer; it waits for a revocation in progress.
func (o *offered) remove(pid uint32) {
	o.mu.Lock()
	delete(o.pids, pid)
	o.mu.Unlock()
}

// drop offers the lease of a dropped Conn.
func (o *offered) drop(pid uint32) {
	o.mu.Lock()
	o.dropped[pid] = true
	o.mu.Unlock()
}

// pause pauses a random partition for a moment: its callers, waiting or
// not, are refused meanwhile.
func (c *chaos) pause() {
	parts := c.pool.Partitions()
	pt := parts[rand.IntN(len(parts))]
	err := pt.Pause()
	c.sleep(time.Duration(10+rand.IntN(200)) * time.Millisecond)
	if rerr := pt.Resume(); err == nil {
		err = rerr
	}
	if err != nil {
		c.t.Errorf("pause and resume partition %q: %v", pt.Name(), err)
	}
	c.faults[faultPause].add(err)
}

// lock holds a lock on an account's row, or on the whole accounts table,
// for a moment: the workload's writes stall behind it, and many of them
// run out of time while waiting.
func (c *chaos) lock(row bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.admin(ctx)
	if err != nil {
		return
	}
	kind, sql, args := faultLockTable, "LOCK TABLE accounts IN EXCLUSIVE MODE", []any(nil)
	if row {
		kind, sql, args = faultLockRow, "SELECT 1 FROM accounts WHERE account = $1 FOR UPDATE", []any{rand.IntN(numAccounts)}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, sql, args...)
	if err == nil {
		c.sleep(time.Duration(50+rand.IntN(450)) * time.Millisecond)
	}
	c.faults[kind].add(err)
}

// restart restarts the server, with a fast or an immediate shutdown, and
// waits until it accepts connections again.
func (c *chaos) restart(immediate bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kind := faultRestartFast
	var err error
	if immediate {
		kind = faultRestartImmediate
		err = c.immediateRestart(ctx)
	} else {
		c.closeConn()
		err = c.srv.Restart(ctx)
	}
	c.faults[kind].add(err)
	if err != nil {
		c.t.Errorf("%s: %v", kind, err)
		return
	}
	c.restarts.Add(1)
}

// immediateRestart stops the server with an immediate shutdown (SIGQUIT
// to the postmaster, the signal of pg_ctl's -m immediate), which pgtemp
// does not offer on its own, and starts it again with pgtemp.
func (c *chaos) immediateRestart(ctx context.Context) error {
	conn, err := c.admin(ctx)
	if err != nil {
		return err
	}
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return err
	}
	// The backend is the chaos goroutine's own: it must still run while
	// its postmaster is looked up.
	err = quitPostmaster(ctx, backend)
	c.closeConn()
	if err != nil {
		return err
	}
	// Start does nothing until pgtemp has seen the old postmaster exit,
	// so it is called until the server answers.
	for {
		if err := c.srv.Start(ctx); err != nil {
			return err
		}
		if _, err := c.admin(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
