package engine

import (
	"slices"
	"time"
)

// Upkeep is what Maintain asks the caller to do.
type Upkeep[R any] struct {
	Close []*Slot[R] // idle slots to close, then call Closed for each
	Open  []int      // partitions to open one idle resource for (see OpenedIdle)
}

// Minimum is what Maintain keeps open for a partition.
type Minimum struct {
	Conns int // resources, leased or idle
	Idle  int // idle resources
}

// Maintain takes out of the idle lists the slots that expired or stayed idle
// longer than idleTimeout (zero: no limit), keeping each partition's
// minimum mins[i], and plans new idle resources for partitions below it,
// within MaxConns.
func (e *Engine[R]) Maintain(when time.Time, idleTimeout time.Duration, mins []Minimum) Upkeep[R] {
	now := at(when)
	e.mu.Lock()
	defer e.mu.Unlock()
	var u Upkeep[R]
	if e.closed.Load() {
		return u
	}
	for i, p := range e.parts {
		m := mins[i]
		held := int(p.held.Load())
		// Oldest first, so the surplus that goes is the least used.
		idle := p.idle.drain(&e.table)
		slices.Reverse(idle)
		keep := idle[:0]
		for j, s := range idle {
			n := len(keep) + (len(idle) - j) // idle if this one stays
			stale := idleTimeout > 0 && s.idleSince.until(now) > idleTimeout && held+n > m.Conns && n > m.Idle
			switch {
			case s.expired(now):
				p.closesLifetime++
			case stale:
				p.closesIdle++
			default:
				keep = append(keep, s)
				continue
			}
			e.unregister(s)
			p.closes++
			u.Close = append(u.Close, s)
		}
		slices.Reverse(keep)
		p.idle.restore(&e.table, keep)
		need := max(m.Conns-(held+len(keep)+p.opening), m.Idle-(len(keep)+p.opening))
		for ; need > 0 && e.total < e.max; need-- {
			e.total++
			p.opening++
			u.Open = append(u.Open, i)
		}
	}
	return u
}

// Reset takes every idle slot out of the pool, for the caller to close,
// and has the slots leased now closed rather than reused when their leases
// end: for when every connection may have gone bad at once (a failover, a
// network change).
func (e *Engine[R]) Reset() []*Slot[R] {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Changed before the idle stacks are emptied: a release that pushes a
	// slot without the lock checks it after (see End).
	e.epoch.Add(1)
	var out []*Slot[R]
	for _, p := range e.parts {
		for _, s := range p.idle.drain(&e.table) {
			e.unregister(s)
			p.closes++
			out = append(out, s)
		}
	}
	return out
}

// TakeIdle leases every idle slot of partition part that the partition may
// hold now, without waiting, recording pcs in each lease. Callers waiting
// in the partition's queue come first: with callers queued, it takes
// nothing.
func (e *Engine[R]) TakeIdle(part int, pcs []uintptr) []*Slot[R] {
	p := e.parts[part]
	now := clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() || p.paused.Load() || !p.queue.empty() {
		return nil
	}
	idle := p.idle.drain(&e.table)
	n := 0
	for n < len(idle) && e.reserve(p) {
		idle[n].lease(now, pcs)
		p.acquires.Add(1)
		n++
	}
	p.idle.restore(&e.table, idle[n:])
	return idle[:n:n]
}

// OpenedIdle adds an idle resource opened as Maintain planned. If the engine
// closed meanwhile, it returns the resource's slot instead, for the caller
// to close and pass to Closed.
func (e *Engine[R]) OpenedIdle(part int, res R, expires time.Time) (toClose *Slot[R]) {
	p := e.parts[part]
	now := clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	p.opening--
	s := &Slot[R]{Res: res, part: p, expires: at(expires), idleSince: now, epoch: e.epoch.Load()}
	s.word.v.Store(pack(0, stFree))
	if e.closed.Load() {
		return s
	}
	p.opens++
	e.register(s)
	p.idle.push(s)
	if e.waiting.Load() > 0 {
		e.dispatch(p, now)
	}
	return nil
}

// OpenIdleFailed gives back the place of an open that Maintain planned and
// that failed.
func (e *Engine[R]) OpenIdleFailed(part int) {
	p := e.parts[part]
	now := clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	p.opening--
	p.openFails++
	e.total--
	if e.waiting.Load() > 0 {
		e.dispatch(nil, now)
	}
}
