package engine

import "time"

// Upkeep is what Maintain asks the caller to do.
type Upkeep[R any] struct {
	Close []*Slot[R] // idle slots to close, then call Closed for each
	Open  []int      // partitions to open one idle resource for (see OpenedIdle)
}

// Maintain takes out of the idle lists the slots that expired or stayed idle
// longer than idleTimeout (zero: no limit), keeping each partition's minimum
// minIdle[i] of resources, and plans new idle resources for partitions below
// that minimum, within MaxConns.
func (e *Engine[R]) Maintain(now time.Time, idleTimeout time.Duration, minIdle []int) Upkeep[R] {
	e.mu.Lock()
	defer e.mu.Unlock()
	var u Upkeep[R]
	if e.closed {
		return u
	}
	for i, p := range e.parts {
		keep := p.idle[:0]
		for j, s := range p.idle {
			have := p.held + len(keep) + (len(p.idle) - j)
			stale := idleTimeout > 0 && now.Sub(s.idleSince) > idleTimeout && have > minIdle[i]
			if s.Expired(now) || stale {
				e.unregister(s)
				p.closes++
				u.Close = append(u.Close, s)
				continue
			}
			keep = append(keep, s)
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		for n := p.held + len(p.idle) + p.opening; n < minIdle[i] && e.total < e.max; n++ {
			e.total++
			p.opening++
			u.Open = append(u.Open, i)
		}
	}
	return u
}

// OpenedIdle adds an idle resource opened as Maintain planned. If the engine
// closed meanwhile, it returns the resource's slot instead, for the caller
// to close and pass to Closed.
func (e *Engine[R]) OpenedIdle(part int, res R, expires time.Time) (toClose *Slot[R]) {
	p := e.parts[part]
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	p.opening--
	s := &Slot[R]{Res: res, part: p, expires: expires, idx: -1, idleSince: now}
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
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	p.opening--
	p.openFails++
	e.total--
	if e.waiting > 0 {
		e.dispatch(nil, now)
	}
}
