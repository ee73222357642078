package engine

import (
	"slices"
	"sync/atomic"
	"time"
)

// A slot's lease word packs the lease generation and its state, so that a
// compare-and-swap by a handle of an older generation always fails: a handle
// that outlived its lease cannot act on the slot's next lease.
const (
	stHeld     = 0 // leased, no call in flight
	stBusy     = 1 // leased, a call (or open rows) in flight
	stRevoking = 2 // revoked while busy; the caller's Exit finishes the revocation
	stFree     = 3 // not leased (idle, or lease released)
	stRevoked  = 4 // not leased: the lease was revoked or abandoned
	stMask     = 7
	genShift   = 3
)

// EnterResult says why a handle may not use its slot.
type EnterResult int

// Results of Slot.Enter.
const (
	EnterOK      EnterResult = iota
	EnterBusy                // another call is in flight on the same lease
	EnterEnded               // the lease was released
	EnterRevoked             // the lease was revoked or abandoned
)

type leaseWord struct{ v atomic.Uint64 }

func pack(gen uint64, st uint64) uint64 { return gen<<genShift | st }

// Gen returns the slot's current lease generation.
func (s *Slot[R]) Gen() uint64 { return s.word.v.Load() >> genShift }

// Enter marks a call in flight on the lease gen. It fails when the lease has
// ended, was revoked, or already has a call in flight.
func (s *Slot[R]) Enter(gen uint64) EnterResult {
	for {
		if s.word.v.CompareAndSwap(pack(gen, stHeld), pack(gen, stBusy)) {
			return EnterOK
		}
		if r := s.why(gen); r != enterAgain {
			return r
		}
	}
}

// enterAgain is why's answer when the lease is held with no call in flight:
// the call that made Enter's compare-and-swap fail has ended since, so Enter
// tries again.
const enterAgain EnterResult = -1

func (s *Slot[R]) why(gen uint64) EnterResult {
	v := s.word.v.Load()
	if v>>genShift != gen {
		// A slot is never leased again after a revocation, so a newer
		// generation means this handle's lease ended by release.
		return EnterEnded
	}
	switch v & stMask {
	case stHeld:
		return enterAgain
	case stBusy:
		return EnterBusy
	case stRevoking, stRevoked:
		return EnterRevoked
	}
	return EnterEnded
}

// Exit ends the call entered with Enter. It reports true when the lease was
// revoked during the call: the one who revoked it has already broken the
// resource and given its place back, and the caller closes what is left of
// it on its side, without telling the engine.
func (s *Slot[R]) Exit(gen uint64) (finish bool) {
	if s.word.v.CompareAndSwap(pack(gen, stBusy), pack(gen, stHeld)) {
		return false
	}
	return s.word.v.CompareAndSwap(pack(gen, stRevoking), pack(gen, stRevoked))
}

// Busy reports whether the lease gen has a call in flight, revoked or not.
func (s *Slot[R]) Busy(gen uint64) bool {
	v := s.word.v.Load()
	st := v & stMask
	return v>>genShift == gen && (st == stBusy || st == stRevoking)
}

// Held reports whether the lease gen is still open: neither released nor
// taken back.
func (s *Slot[R]) Held(gen uint64) bool {
	v := s.word.v.Load()
	st := v & stMask
	return v>>genShift == gen && (st == stHeld || st == stBusy)
}

// How says how a lease is to end. It is the caller's request; Ending.Taken
// says whether the lease ended the way asked or was taken from its holder.
type How int

// Ways to end a lease.
const (
	// Release is the holder's release. With a call in flight (rows left
	// open) the lease cannot be reused and is revoked instead.
	Release How = iota
	// Discard ends a lease that was never used, whose resource turned out
	// broken before it was handed out: the resource is closed and the lease
	// feeds no hold-time average.
	Discard
	// Revoke takes the lease from its holder: every later call on its
	// handle fails with EnterRevoked, and a call in flight is interrupted.
	Revoke
	// Abandon ends a lease whose handle is unreachable, whatever its state:
	// nobody can be using it any more.
	Abandon
	// Detach ends a lease with no call in flight by taking its resource
	// out of the pool unclosed, for the holder to keep (pgxpool's Hijack):
	// its place under MaxConns is given back at once.
	Detach
)

// Action is what the caller must do with a slot's resource once its lease
// ended, outside the engine's lock.
type Action int

// Actions after a lease ended.
const (
	// Keep: nothing; the slot went back to its partition, or to a waiter.
	Keep Action = iota
	// Close the resource, then call Engine.Closed.
	Close
	// Interrupt the call in flight and break the resource under it, then
	// call Engine.Closed. The holder's Exit then reports finish, and the
	// holder closes what is left on its side.
	Interrupt
	// Detached: nothing; the resource left the pool with its holder.
	Detached
)

// Ending is the outcome of ending a lease: what happened, and what the
// caller must do outside the lock.
type Ending[R any] struct {
	// Ended is false when the lease had already ended (or gen was stale):
	// then nothing was done and the other fields are zero.
	Ended bool
	// Taken is true when the lease was taken from its holder (Revoke,
	// Abandon, or a Release with a call in flight) rather than given back.
	Taken  bool
	Action Action
	// Lease is the ended lease's record. Its PCs are copied only when
	// Taken or Suspected, since only those are reported.
	Lease Lease[R]
	// Held is how long the lease was held.
	Held time.Duration
}

// End ends the lease gen of s in the way how asks: the lease word, the
// accounting, the slot's way back to its partition (or to a waiter) or out
// of the pool. It is the only way a lease ends, so each lease ends exactly
// once whoever races to end it: the others get an Ending with Ended
// false. reuse says whether the resource may serve another lease; it
// matters only to Release.
func (e *Engine[R]) End(s *Slot[R], gen uint64, how How, reuse bool) (en Ending[R]) {
	now := clock()
	if how == Release && reuse && e.endFast(s, gen, now, &en) {
		return en
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	action, ok := s.endWord(gen, how)
	if !ok {
		return Ending[R]{}
	}
	p := s.part
	taken := how != Release || action == Interrupt
	en = Ending[R]{Ended: true, Taken: taken, Action: action, Held: s.acquired.until(now)}
	if taken {
		en.Lease = s.record(true)
	} else {
		en.Lease = Lease[R]{Slot: s, Gen: gen, Part: p.idx}
	}
	p.held.Add(-1)
	if how == Release && !taken {
		s.observeHold(en.Held)
	}
	if action == Keep {
		switch {
		case s.expired(now):
			p.closesLifetime++
			en.Action = Close
		case !reuse:
			en.Action = Close
		}
	}
	e.settle(s, &en, now)
	return en
}

// settle finishes under the lock a lease that ended: it reports a suspect,
// closes the connection or puts it back for reuse, and serves the callers
// waiting. It must be called with e.mu held.
func (e *Engine[R]) settle(s *Slot[R], en *Ending[R], now instant) {
	p := s.part
	if s.suspected.Load() {
		p.suspects--
		if !en.Taken {
			en.Lease = s.record(true)
		}
	}
	if en.Action == Keep && (e.closed.Load() || s.epoch != e.epoch.Load()) {
		en.Action = Close
	}
	switch en.Action {
	case Keep:
		s.idleSince = now
		p.idle.push(s)
	case Detached:
		e.unregister(s)
		p.closes++
		s.closed = true
		e.total--
	default:
		e.unregister(s)
		p.closes++
	}
	if e.waiting.Load() > 0 {
		e.dispatch(p, now)
	}
}

// endFast is End for a holder's release of a lease with no call in
// flight whose connection goes back to its partition while nobody waits:
// then it takes no lock. It fills in en, or reports false, having changed
// nothing, when End must take the lock and decide.
func (e *Engine[R]) endFast(s *Slot[R], gen uint64, now instant, en *Ending[R]) bool {
	if e.waiting.Load() != 0 || e.closed.Load() || s.epoch != e.epoch.Load() || s.expired(now) {
		return false
	}
	if !s.word.v.CompareAndSwap(pack(gen, stHeld), pack(gen, stFree)) {
		return false
	}
	p := s.part
	// Nothing is reported of a plain release: its record leaves out the
	// time and the stack.
	en.Ended, en.Action, en.Held = true, Keep, s.acquired.until(now)
	en.Lease.Slot, en.Lease.Gen, en.Lease.Part = s, gen, p.idx
	p.held.Add(-1)
	s.observeHold(en.Held)
	// A reader of the records, or a suspect's mark, came while the word
	// changed: the lock settles it (see lockRead and MarkSuspected).
	if e.reading.Load() || s.suspected.Load() {
		e.mu.Lock()
		e.settle(s, en, now)
		e.mu.Unlock()
		return true
	}
	s.idleSince = now
	p.idle.push(s)
	// A caller who came, or a Close or Reset that emptied the idle stacks,
	// after the checks above may have missed the slot: both change what
	// is read here before they look at the stacks.
	if e.waiting.Load() != 0 || e.closed.Load() || s.epoch != e.epoch.Load() {
		e.mu.Lock()
		if (e.closed.Load() || s.epoch != e.epoch.Load()) && e.removeIdle(p, s) {
			e.unregister(s)
			p.closes++
			en.Action = Close
		}
		e.dispatch(p, now)
		e.mu.Unlock()
	}
	return true
}

// removeIdle takes s out of p's idle stack, if it is there. It must be
// called with e.mu held.
func (e *Engine[R]) removeIdle(p *Part[R], s *Slot[R]) bool {
	idle := p.idle.drain(&e.table)
	i := slices.Index(idle, s)
	if i >= 0 {
		idle = slices.Delete(idle, i, i+1)
	}
	p.idle.restore(&e.table, idle)
	return i >= 0
}

// endWord moves the lease word of gen to its end state for how, and says
// what the caller must then do with the resource. It reports false when the
// lease had already ended.
func (s *Slot[R]) endWord(gen uint64, how How) (Action, bool) {
	for {
		v := s.word.v.Load()
		if v>>genShift != gen {
			return 0, false
		}
		var to uint64
		var a Action
		switch st := v & stMask; {
		case st == stHeld && how == Release:
			to, a = stFree, Keep
		case st == stHeld && how == Detach:
			to, a = stRevoked, Detached
		case st == stHeld:
			to, a = stRevoked, Close
		case st == stBusy && how == Abandon:
			// Nobody will Exit: the handle is unreachable.
			to, a = stRevoked, Close
		case st == stBusy && (how == Release || how == Revoke):
			to, a = stRevoking, Interrupt
		default:
			return 0, false
		}
		if s.word.v.CompareAndSwap(v, pack(gen, to)) {
			return a, true
		}
	}
}

// observeHold feeds a released lease's hold time to the average behind the
// wait estimate. Leases taken back do not count: one hour-long leak would
// otherwise make the estimate refuse callers for a long while.
func (s *Slot[R]) observeHold(d time.Duration) {
	p := s.part
	// Once the estimate is warm, one release in eight of each slot feeds
	// it: fewer writes to a line that every CPU's releases share.
	if s.holds++; s.holds%8 != 1 && p.holdCount.Load() >= minHoldSamples {
		return
	}
	if p.holdCount.Load() < minHoldSamples {
		p.holdCount.Add(1)
	}
	// An exponentially weighted average that follows the recent workload.
	// Concurrent releases may overwrite each other's update: one sample
	// lost changes an estimate little.
	avg := time.Duration(p.holdAvg.Load())
	if avg == 0 {
		avg = d
	} else {
		avg += (d - avg) / 8
	}
	p.holdAvg.Store(int64(avg))
}

// Closed gives back the place under MaxConns of s, whose resource the
// caller closed as an Ending, Maintain, Close or OpenedIdle asked. The
// engine asks for each slot's close once; a second call does nothing.
func (e *Engine[R]) Closed(s *Slot[R]) {
	now := clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	e.total--
	if e.waiting.Load() > 0 {
		e.dispatch(nil, now)
	}
}
