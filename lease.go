package poolguard

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard/internal/engine"
	"github.com/poolguard/poolguard/internal/stack"
)

// pconn is one physical connection.
type pconn struct {
	conn *pgx.Conn
	pid  uint32
	part *Partition // the partition whose settings opened it
	// state is the connection's transaction status byte ('I', 'T', 'E') as
	// of the end of the last call, or stateBroken once it closed or must
	// not be reused: written by the holder, read by anyone.
	state atomic.Uint32
	// rowsOpen is set while rows or batch results are with the holder: the
	// lease is busy, but what keeps it busy is the holder, not a statement,
	// so it may be a suspect (rows left open on an error path).
	rowsOpen atomic.Bool
	// exposed is set once the pgx.Conn was handed out beyond the lease's
	// checks (Conn.Raw, Conn.Conn, a transaction's Conn): the connection
	// is then closed when the lease ends.
	exposed atomic.Bool
	// token is the connection's leak token while no handle holds it (see
	// token); nil while a lease's handle holds it, or when leaks are not
	// tracked.
	token atomic.Pointer[token]
}

// token proves leaks by garbage collection at no cost per acquire. Each
// connection has one token, armed with a finalizer once, when the
// connection opens. While the connection is idle, or its lease pinned, the
// connection holds the token; a lease's handle takes it at the acquire and
// gives it back at the release. So the token becomes unreachable exactly
// when a handle that holds it does without being released: the finalizer
// then ends that lease, as abandoned. Setting and clearing a finalizer on
// every handle, as the obvious design does, costs about a third of an
// acquire and release.
type token struct {
	pool *Pool
	// The connection's slot, set at its first acquire. Its current lease
	// is the one whose handle holds the token: the slot cannot be leased
	// again until the token is given back.
	slot atomic.Pointer[engine.Slot[*pconn]]
}

// takeToken takes the connection's leak token for a lease of s, or nil
// when leaks are not tracked.
func (pc *pconn) takeToken(s *engine.Slot[*pconn]) *token {
	t := pc.token.Swap(nil)
	if t != nil && t.slot.Load() == nil {
		t.slot.Store(s)
	}
	return t
}

// newToken arms a token for a connection of p.
func newToken(p *Pool) *token {
	t := &token{pool: p}
	runtime.SetFinalizer(t, (*token).finalize)
	return t
}

// finalize runs when a token became unreachable: the handle that held it
// was dropped without Release, and nobody can release its lease any more.
// The one finalizer goroutine of the program runs every finalizer, so it
// only checks the lease and hands the rest over.
func (t *token) finalize() {
	s, p := t.slot.Load(), t.pool
	if s == nil {
		return // a connection closed before its first lease
	}
	gen := s.Gen()
	if !s.Held(gen) {
		return // a connection closed while idle, or whose lease ended otherwise
	}
	p.spawn(func() { p.end(s, gen, engine.Abandon, ReclaimLeak, LeakUnreachable) })
}

// discardToken disarms the token of a connection that leaves the pool
// unclosed (Hijack) or closes: it must not fire, and the connection and
// its token, which point at each other, must not outlive it.
func (pc *pconn) discardToken() {
	if t := pc.token.Swap(nil); t != nil {
		runtime.SetFinalizer(t, nil)
	}
}

// stateBroken marks a pconn whose connection closed.
const stateBroken = 'X'

// settle records the connection's state at the end of a call.
func (pc *pconn) settle() {
	if pc.conn.IsClosed() {
		pc.state.Store(stateBroken)
		return
	}
	pc.state.Store(uint32(pc.conn.PgConn().TxStatus()))
}

// reusable reports whether the connection may serve another lease: open
// and outside any transaction. One left inside a transaction is closed
// rather than rolled back on someone else's behalf, which would hide their
// bug; pgxpool does the same.
func (pc *pconn) reusable() bool { return pc.state.Load() == 'I' && !pc.exposed.Load() }

// discard marks the connection not to be reused (AfterRelease said so).
func (pc *pconn) discard() { pc.state.Store(stateBroken) }

// inTx reports whether the connection is inside a transaction, failed or not.
func (pc *pconn) inTx() bool {
	st := pc.state.Load()
	return st == 'T' || st == 'E'
}

// acquire leases a connection of pt: an idle one that passes its health
// check, or a new one. scoped marks the Conn of a With scope.
func (pt *Partition) acquire(ctx context.Context, scoped bool) (*Conn, error) {
	return pt.acquireDepth(ctx, scoped, pt.pool.depth)
}

// acquireDepth is acquire recording depth frames of the caller's stack.
func (pt *Partition) acquireDepth(ctx context.Context, scoped bool, depth int) (*Conn, error) {
	if pt.err != nil {
		return nil, pt.err
	}
	var buf [engine.MaxStack]uintptr
	var pcs []uintptr
	if depth > 0 {
		// Frames inside this package are trimmed when the stack is
		// formatted, so one skip count serves every entry point.
		pcs = buf[:stack.Callers(2, buf[:depth])]
	}
	p := pt.pool
	if t := p.acquireTracer; t != nil {
		ctx = t.TraceAcquireStart(ctx, p, TraceAcquireStartData{Partition: pt.cfg.Name})
		c, waited, err := pt.lease(ctx, scoped, pcs)
		end := TraceAcquireEndData{Partition: pt.cfg.Name, Err: err, Waited: waited}
		if c != nil {
			end.Conn = c.slot.Res.conn
		}
		t.TraceAcquireEnd(ctx, p, end)
		return c, err
	}
	c, _, err := pt.lease(ctx, scoped, pcs)
	return c, err
}

// lease obtains a lease recording pcs, and reports how long it waited for
// a connection, opening one included.
func (pt *Partition) lease(ctx context.Context, scoped bool, pcs []uintptr) (*Conn, time.Duration, error) {
	p := pt.pool
	if f := p.faults.Load(); f != nil {
		if err := (*f).Acquire(ctx, pt.cfg.Name); err != nil {
			return nil, 0, err
		}
	}
	var total time.Duration
	// Each failed attempt closes a connection, so a hook that refuses every
	// connection would otherwise open and close them forever.
	for range p.cfg.MaxConns + 1 {
		g, reason, waited := p.eng.Acquire(ctx, pt.idx, pcs)
		total += waited
		if reason != engine.ReasonNone {
			return nil, total, pt.refused(ctx, reason, total)
		}
		s := g.Slot
		fresh := s == nil
		if fresh {
			var err error
			var opening time.Duration
			s, opening, err = pt.open(ctx, g.Evict, pcs)
			total += opening
			if err != nil {
				return nil, total, err
			}
		}
		if ok, err := pt.check(ctx, s, fresh); !ok || err != nil {
			if err != nil {
				return nil, total, err
			}
			continue
		}
		pt.waitTime.observe(total)
		return newConn(s, scoped), total, nil
	}
	return nil, total, fmt.Errorf("poolguard: partition %q: every connection tried was refused by PrepareConn, BeforeAcquire or its health check", pt.cfg.Name)
}

// check decides whether the connection of a lease just granted may be
// handed out: an idle one must pass its health check, and any one
// Config.PrepareConn, with pgxpool's rules (false closes the connection and,
// without an error, the acquire tries another; an error fails the acquire;
// true with an error puts the connection back). The checks use the
// connection, so they run inside a call on the lease: a revocation meanwhile
// (MaxHold, Pool.Revoke, Close) interrupts them instead of closing the
// connection under them, and the acquire tries another.
func (pt *Partition) check(ctx context.Context, s *engine.Slot[*pconn], fresh bool) (bool, error) {
	p, prep := pt.pool, pt.pool.cfg.PrepareConn
	if fresh && prep == nil {
		return true, nil
	}
	gen := s.Gen()
	if s.Enter(gen) != engine.EnterOK {
		return false, nil // taken back already
	}
	ok := fresh || pt.healthy(ctx, s)
	var err error
	if ok && prep != nil {
		ok, err = prep(ctx, s.Res.conn)
	}
	s.Res.settle()
	if s.Exit(gen) {
		p.spawn(func() { p.closeConn(s.Res) })
		return false, nil
	}
	switch {
	case !ok:
		p.end(s, gen, engine.Discard, 0, 0)
	case err != nil:
		p.end(s, gen, engine.Release, 0, 0)
	}
	return ok, err
}

// open opens a connection for a grant that came without one, first closing
// the idle connection of another partition it evicts, if any.
func (pt *Partition) open(ctx context.Context, evict *engine.Slot[*pconn], pcs []uintptr) (*engine.Slot[*pconn], time.Duration, error) {
	p := pt.pool
	start := time.Now()
	if evict != nil {
		// The evicted connection's place under MaxConns passes to the new
		// one, so it is closed here rather than given back.
		p.closeConn(evict.Res)
	}
	pc, err := pt.connect(ctx)
	took := time.Since(start)
	if err != nil {
		p.eng.OpenFailed(pt.idx)
		return nil, took, fmt.Errorf("poolguard: open a connection for partition %q: %w", pt.cfg.Name, err)
	}
	return p.eng.Opened(pt.idx, pc, p.expiry(), pcs), took, nil
}

// connect opens a physical connection with the partition's settings.
func (pt *Partition) connect(ctx context.Context) (*pconn, error) {
	start := time.Now()
	cc := pt.connConfig
	if bc := pt.pool.cfg.BeforeConnect; bc != nil {
		cc = cc.Copy()
		if err := bc(ctx, cc); err != nil {
			return nil, fmt.Errorf("BeforeConnect: %w", err)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	pt.openTime.observe(time.Since(start))
	if ac := pt.pool.cfg.AfterConnect; ac != nil {
		if err := ac(ctx, conn); err != nil {
			_ = conn.Close(ctx)
			return nil, fmt.Errorf("AfterConnect: %w", err)
		}
	}
	pc := &pconn{conn: conn, pid: conn.PgConn().PID(), part: pt}
	pc.settle()
	if pt.pool.track {
		pc.token.Store(newToken(pt.pool))
	}
	return pc, nil
}

func (pt *Partition) connectTimeout() time.Duration {
	if d := pt.connConfig.ConnectTimeout; d > 0 {
		return d
	}
	return 10 * time.Second
}

// healthy checks a connection taken from the idle list before it is
// handed out: it pings one idle for longer than PingAfterIdle, or as
// ShouldPing decides.
func (pt *Partition) healthy(ctx context.Context, s *engine.Slot[*pconn]) bool {
	pc, cfg := s.Res, &pt.pool.cfg.Config
	if pc.conn.IsClosed() {
		return false
	}
	// The lease's start time serves as now: one clock read less on the hot
	// path.
	idle := s.IdleBefore()
	var ping bool
	if cfg.ShouldPing != nil {
		ping = cfg.ShouldPing(ctx, ShouldPingParams{Conn: pc.conn, IdleDuration: idle})
	} else {
		ping = cfg.PingAfterIdle > 0 && idle > cfg.PingAfterIdle
	}
	if !ping {
		return true
	}
	if cfg.PingTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.PingTimeout)
		defer cancel()
	}
	return pc.conn.Ping(ctx) == nil
}

// end ends the lease gen of s: the one place where a lease ends, whoever
// ends it (its holder, a revocation, the garbage collector's proof of a
// leak, Close, a failed health check). The engine decides, in one step,
// whether this call ends the lease and what becomes of the connection;
// end then does the rest outside the engine's lock: it records the hold
// time, counts and reports a lease taken back (why and kind, when not
// zero) or a suspect released after all, and closes the connection or
// interrupts the call in flight on it. It reports whether it ended the
// lease, and never blocks: the finalizer goroutine calls it.
func (p *Pool) end(s *engine.Slot[*pconn], gen uint64, how engine.How, why ReclaimReason, kind LeakKind) bool {
	en := p.eng.End(s, gen, how, s.Res.reusable())
	if !en.Ended {
		return false
	}
	pt := p.parts[en.Lease.Part]
	if how != engine.Discard {
		pt.useTime.observe(en.Held)
	}
	switch {
	case en.Taken:
		if why != 0 {
			pt.reclaims[why].Add(1)
		}
		if kind != 0 {
			p.report(kind, en.Lease)
		}
	case en.Lease.Suspected:
		p.report(LeakSuspectReturned, en.Lease)
	}
	switch en.Action {
	case engine.Close:
		p.destroy(s)
	case engine.Interrupt:
		p.interrupt(s)
	}
	return true
}

// destroy closes a slot's connection in the background and then gives its
// place under MaxConns back.
func (p *Pool) destroy(s *engine.Slot[*pconn]) {
	p.spawn(func() {
		p.closeConn(s.Res)
		p.eng.Closed(s)
	})
}

// interrupt stops the call in flight on a revoked lease: it asks
// PostgreSQL to cancel the query, so the backend stops, then closes the
// socket under the holder, whose call fails at once, and gives the place
// back. The holder's Exit closes what is left on the client side.
func (p *Pool) interrupt(s *engine.Slot[*pconn]) {
	p.spawn(func() {
		pg := s.Res.conn.PgConn()
		ctx, cancel := context.WithTimeout(context.Background(), cancelTimeout)
		_ = pg.CancelRequest(ctx)
		cancel()
		_ = pg.Conn().Close()
		p.eng.Closed(s)
	})
}

// closeConn closes a physical connection, within a bounded time, after
// Config.BeforeClose.
func (p *Pool) closeConn(pc *pconn) {
	pc.discardToken()
	if bc := p.cfg.BeforeClose; bc != nil {
		bc(pc.conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeConnTimeout)
	defer cancel()
	_ = pc.conn.Close(ctx)
}

// spawn runs f in a goroutine that Close waits for.
func (p *Pool) spawn(f func()) {
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		f()
	}()
}

const (
	closeConnTimeout = 2 * time.Second
	cancelTimeout    = 5 * time.Second
)
