package engine

import "time"

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
	if e.closed {
		return u
	}
	for i, p := range e.parts {
		m := mins[i]
		keep := p.idle[:0]
		for j, s := range p.idle {
			idle := len(keep) + (len(p.idle) - j)
			stale := idleTimeout > 0 && s.idleSince.until(now) > idleTimeout && p.held+idle > m.Conns && idle > m.Idle
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
		clear(p.idle[len(keep):])
		p.idle = keep
		need := max(m.Conns-(p.held+len(p.idle)+p.opening), m.Idle-(len(p.idle)+p.opening))
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
	e.epoch++
	var out []*Slot[R]
	for _, p := range e.parts {
		for _, s := range p.idle {
			e.unregister(s)
			p.closes++
		}
		out = append(out, p.idle...)
		clear(p.idle)
		p.idle = p.idle[:0]
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
	if e.closed || p.paused || !p.queue.empty() {
		return nil
	}
	var out []*Slot[R]
	for len(p.idle) > 0 && e.admissible(p) {
		n := len(p.idle) - 1
		s := p.idle[n]
		p.idle[n] = nil
		p.idle = p.idle[:n]
		e.addHeld(p, 1)
		s.lease(now, pcs)
		p.acquires++
		out = append(out, s)
	}
	return out
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
	s := &Slot[R]{Res: res, part: p, expires: at(expires), idx: -1, idleSince: now, epoch: e.epoch}
	s.word.v.Store(pack(0, stFree))
	if e.closed {
		return s
	}
	p.opens++
	s.idx = len(e.all)
	e.all = append(e.all, s)
	p.idle = append(p.idle, s)
	if e.waiting > 0 {
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
	if e.waiting > 0 {
		e.dispatch(nil, now)
	}
}
