package poolguard

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/poolguard/poolguard/internal/engine"
	"github.com/poolguard/poolguard/internal/hook"
)

// Pool is a pool of PostgreSQL connections, split into partitions. It is
// safe for concurrent use.
type Pool struct {
	cfg    *resolved
	eng    *engine.Engine[*pconn]
	parts  []*Partition
	byName map[string]*Partition
	track  bool // prove leaks by garbage collection
	depth  int  // frames recorded per lease
	limits bool // some partition has SuspectAfter or MaxHold: scan leases

	faults atomic.Pointer[hook.Faults] // injected by package pooltest

	acquireTracer AcquireTracer // found on the ConnConfig's Tracer
	releaseTracer ReleaseTracer

	closeOnce sync.Once
	closing   chan struct{} // closed when Close starts
	bg        sync.WaitGroup
}

func init() {
	hook.AcquireFor = func(ctx context.Context, partition any) (any, error) {
		pt := partition.(*Partition)
		depth := 0
		if pt.pool.depth > 0 {
			depth = min(pt.pool.depth+foreignFrames, engine.MaxStack)
		}
		c, err := pt.acquireDepth(ctx, false, depth)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	hook.SetFaults = func(pool any, f hook.Faults) {
		p := pool.(*Pool)
		if f == nil {
			p.faults.Store(nil)
			return
		}
		p.faults.Store(&f)
	}
}

// New creates a pool. It opens the partitions' MinConns in the background
// and returns without waiting for a connection, as pgxpool does; the first
// acquire reports a server that cannot be reached.
func New(ctx context.Context, config *Config) (*Pool, error) {
	cfg, err := config.resolve()
	if err != nil {
		return nil, fmt.Errorf("poolguard: invalid configuration: %w", err)
	}
	ec := engine.Config{MaxConns: cfg.MaxConns}
	for _, p := range cfg.parts {
		ec.Parts = append(ec.Parts, engine.PartConfig{Name: p.Name, Guaranteed: p.Guaranteed, Max: p.Max, MaxWaiting: p.MaxWaiting})
	}
	eng, err := engine.New[*pconn](ec)
	if err != nil {
		return nil, fmt.Errorf("poolguard: invalid configuration: %w", err)
	}
	p := &Pool{
		cfg:     cfg,
		eng:     eng,
		byName:  make(map[string]*Partition, len(cfg.parts)),
		track:   !cfg.DisableLeakTracking,
		depth:   max(cfg.StackDepth, 0),
		closing: make(chan struct{}),
	}
	p.acquireTracer, _ = cfg.ConnConfig.Tracer.(AcquireTracer)
	p.releaseTracer, _ = cfg.ConnConfig.Tracer.(ReleaseTracer)
	for i, pc := range cfg.parts {
		pt := &Partition{pool: p, idx: i, cfg: pc, connConfig: cfg.connConfig(pc),
			waitTime: newHistogram(WaitTimeBounds), useTime: newHistogram(UseTimeBounds), openTime: newHistogram(OpenTimeBounds)}
		p.parts = append(p.parts, pt)
		p.byName[pc.Name] = pt
		p.limits = p.limits || pc.SuspectAfter > 0 || pc.MaxHold > 0
	}
	p.bg.Add(1)
	go p.background()
	return p, nil
}

// Connect creates a pool from a connection string, as ParseConfig and New.
func Connect(ctx context.Context, connString string) (*Pool, error) {
	cfg, err := ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// Partition returns the partition named name. For a name that is not
// configured it returns a handle whose every acquire fails with an error
// matching ErrNoPartition, so a typo surfaces at the first call, with the
// names that exist, rather than as a nil pointer.
func (p *Pool) Partition(name string) *Partition {
	if pt := p.byName[name]; pt != nil {
		return pt
	}
	names := make([]string, len(p.parts))
	for i, pt := range p.parts {
		names[i] = strconv.Quote(pt.cfg.Name)
	}
	return &Partition{pool: p, idx: -1, cfg: PartitionConfig{Name: name},
		err: fmt.Errorf("%w %q: the pool has %s", ErrNoPartition, name, strings.Join(names, ", "))}
}

// Partitions returns the pool's partitions, in configuration order.
func (p *Pool) Partitions() []*Partition { return append([]*Partition(nil), p.parts...) }

// Config returns a copy of the pool's configuration, with defaults applied.
func (p *Pool) Config() *Config {
	c := p.cfg.Config
	c.ConnConfig = p.cfg.ConnConfig.Copy()
	c.Partitions = append([]PartitionConfig(nil), p.cfg.parts...)
	return &c
}

// Acquire leases a connection from the first partition. Release it when
// done, or prefer With, which cannot forget to.
func (p *Pool) Acquire(ctx context.Context) (*Conn, error) { return p.parts[0].acquire(ctx, false) }

// With runs fn with a connection of the first partition and releases it
// when fn returns or panics. See Partition.With.
func (p *Pool) With(ctx context.Context, fn func(*Conn) error) error {
	return p.parts[0].With(ctx, fn)
}

// WithTx runs fn in a transaction on a connection of the first partition.
// See Partition.WithTx.
func (p *Pool) WithTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return p.parts[0].WithTx(ctx, fn)
}

// WithTxOptions is WithTx with the transaction's options. See
// Partition.WithTxOptions.
func (p *Pool) WithTxOptions(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	return p.parts[0].WithTxOptions(ctx, opts, fn)
}

// AcquireFunc is With, under pgxpool's name. See Partition.AcquireFunc.
func (p *Pool) AcquireFunc(ctx context.Context, f func(*Conn) error) error {
	return p.parts[0].With(ctx, f)
}

// Exec acquires a connection of the first partition, runs sql and
// releases it.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return p.parts[0].Exec(ctx, sql, args...)
}

// Query acquires a connection of the first partition and runs sql; the
// connection is released when the rows are closed or read to the end.
// See Partition.Query.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return p.parts[0].Query(ctx, sql, args...)
}

// QueryRow acquires a connection of the first partition and runs sql; Scan
// releases it.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return p.parts[0].QueryRow(ctx, sql, args...)
}

// SendBatch sends b on a connection of the first partition. See
// Partition.SendBatch.
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return p.parts[0].SendBatch(ctx, b)
}

// CopyFrom copies rows into table on a connection of the first partition.
func (p *Pool) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return p.parts[0].CopyFrom(ctx, table, columns, src)
}

// Begin starts a transaction on a connection of the first partition. See
// Partition.Begin.
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) { return p.parts[0].Begin(ctx) }

// BeginTx is Begin with options.
func (p *Pool) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	return p.parts[0].BeginTx(ctx, opts)
}

// Ping checks that the server answers, on a connection of the first
// partition.
func (p *Pool) Ping(ctx context.Context) error { return p.parts[0].Ping(ctx) }

// AcquireAllIdle leases every idle connection of every partition, as far
// as each partition may hold them, without waiting. See
// Partition.AcquireAllIdle.
func (p *Pool) AcquireAllIdle(ctx context.Context) []*Conn {
	var out []*Conn
	for _, pt := range p.parts {
		out = append(out, pt.AcquireAllIdle(ctx)...)
	}
	return out
}

// Reset closes every idle connection and has the connections in use closed
// rather than reused when they are released, leaving the pool open: for an
// event that may have broken every connection at once (a failover, a
// network change), as pgxpool's Reset.
func (p *Pool) Reset() {
	for _, s := range p.eng.Reset() {
		p.destroy(s)
	}
}

// background keeps the pool healthy: it revokes leases held past MaxHold,
// reports suspects, closes expired and idle connections and restores
// MinConns.
func (p *Pool) background() {
	defer p.bg.Done()
	tick := p.scanPeriod()
	t := time.NewTicker(tick)
	defer t.Stop()
	nextHealth := time.Now()
	for {
		select {
		case <-p.closing:
			return
		case now := <-t.C:
			if p.limits {
				p.scan(now)
			}
			if !now.Before(nextHealth) {
				p.maintain(now)
				nextHealth = now.Add(p.cfg.HealthCheckPeriod)
			}
		}
	}
}

// scanPeriod is a quarter of the shortest lease limit, so a limit is acted
// on within 25% of its length, clamped between 10ms and one second.
func (p *Pool) scanPeriod() time.Duration {
	d := time.Second
	for _, pt := range p.parts {
		for _, lim := range []time.Duration{pt.cfg.SuspectAfter, pt.cfg.MaxHold} {
			if lim > 0 {
				d = min(d, lim/4)
			}
		}
	}
	d = min(d, p.cfg.HealthCheckPeriod)
	return max(d, 10*time.Millisecond)
}

func (p *Pool) maintain(now time.Time) {
	mins := make([]engine.Minimum, len(p.parts))
	for i, pt := range p.parts {
		mins[i] = engine.Minimum{Conns: pt.cfg.MinConns, Idle: pt.cfg.MinIdleConns}
	}
	u := p.eng.Maintain(now, p.cfg.MaxConnIdleTime, mins)
	for _, s := range u.Close {
		p.destroy(s)
	}
	for _, i := range u.Open {
		pt := p.parts[i]
		p.spawn(func() {
			ctx, cancel := context.WithTimeout(context.Background(), pt.connectTimeout())
			defer cancel()
			pc, err := pt.connect(ctx)
			if err != nil {
				p.cfg.Logger.Warn("poolguard: could not open a connection to keep MinConns", "partition", pt.cfg.Name, "error", err)
				p.eng.OpenIdleFailed(i)
				return
			}
			if s := p.eng.OpenedIdle(i, pc, p.expiry()); s != nil {
				p.destroy(s)
			}
		})
	}
}

// expiry returns when a connection opened now should close.
func (p *Pool) expiry() time.Time {
	if p.cfg.MaxConnLifetime == 0 {
		return time.Time{}
	}
	d := p.cfg.MaxConnLifetime
	if j := p.cfg.MaxConnLifetimeJitter; j > 0 {
		d += rand.N(j)
	}
	return time.Now().Add(d)
}

// Close closes the pool. It fails the callers still waiting with
// ErrClosed, closes the idle connections, waits up to CloseTimeout for the
// leases still held to be released, then revokes those and reports each as
// a leak. Unlike pgxpool's, it never blocks forever on a leaked connection.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		for _, s := range p.eng.Close() {
			p.destroy(s)
		}
		deadline := time.Now().Add(p.cfg.CloseTimeout)
		for len(p.eng.Leases()) > 0 && time.Now().Before(deadline) {
			time.Sleep(closePoll)
		}
		for _, l := range p.eng.Leases() {
			p.end(l.Slot, l.Gen, engine.Revoke, ReclaimClose, LeakOpenAtClose)
		}
		p.bg.Wait()
	})
}

const closePoll = 5 * time.Millisecond

// Stats returns a snapshot of the pool.
func (p *Pool) Stats() Stats {
	es := p.eng.Stats()
	now := time.Now()
	st := Stats{MaxConns: es.Max, TotalConns: es.Total, Partitions: make([]PartitionStats, len(es.Parts))}
	for i, e := range es.Parts {
		ps := PartitionStats{
			Name: e.Name, InUse: e.Held, Idle: e.Idle, Max: e.Max, Guaranteed: e.Guaranteed,
			Borrowed: e.Borrowed(), Waiting: e.Waiting, MaxWaiting: e.MaxWaiting, Paused: e.Paused,
			Suspected: e.Suspected,
			Opening:   e.Opening, Acquires: e.Acquires, WaitedAcquires: e.Waits, EmptyAcquires: e.Empties,
			Opened: e.Opens, OpenFailures: e.OpenFails, Closed: e.Closes,
			ClosedLifetime: e.ClosesLifetime, ClosedIdle: e.ClosesIdle,
		}
		copy(ps.Rejected.n[:], e.Rejects[:]) // the same indices: RejectReason is engine.Reason
		if !e.OldestAcquired.IsZero() {
			ps.OldestLease = now.Sub(e.OldestAcquired)
		}
		pt := p.parts[i]
		ps.MinConns = pt.cfg.MinConns
		ps.WaitTime, ps.UseTime, ps.OpenTime = pt.waitTime.snapshot(), pt.useTime.snapshot(), pt.openTime.snapshot()
		for k := range pt.leaks {
			ps.Leaks.n[k] = pt.leaks[k].Load()
		}
		ps.LeakSites = pt.leakSites.snapshot()
		for r := range pt.reclaims {
			ps.Reclaimed.n[r] = pt.reclaims[r].Load()
		}
		st.Partitions[i] = ps
	}
	return st
}

// Leases returns a snapshot of every lease currently held, oldest first.
func (p *Pool) Leases() []LeaseInfo {
	now := time.Now()
	ls := p.eng.Leases()
	out := make([]LeaseInfo, 0, len(ls))
	for _, l := range ls {
		st := frames(l.PCs)
		site, fn := callSite(st)
		li := LeaseInfo{
			Partition: p.parts[l.Part].cfg.Name, Acquired: l.Acquired, Age: now.Sub(l.Acquired),
			CallSite: site, Function: fn, Stack: st, PID: l.Slot.Res.pid, Suspected: l.Suspected,
		}
		switch {
		case l.Busy:
			li.State = LeaseActive
		case l.Slot.Res.inTx():
			li.State = LeaseInTransaction
		}
		out = append(out, li)
	}
	slices.SortFunc(out, func(a, b LeaseInfo) int { return a.Acquired.Compare(b.Acquired) })
	return out
}

// Revoke takes back the lease whose backend has process ID pid, the tool
// for an operator who found a stuck holder in Leases: the holder's next
// call fails with ErrLeaseRevoked, a call in flight is cancelled, and the
// connection is closed, never reused. It is counted as ReclaimRevoked, not
// reported as a leak. It reports whether a lease was revoked.
func (p *Pool) Revoke(pid uint32) bool {
	for _, l := range p.eng.Leases() {
		if l.Slot.Res.pid == pid {
			return p.end(l.Slot, l.Gen, engine.Revoke, ReclaimRevoked, 0)
		}
	}
	return false
}
