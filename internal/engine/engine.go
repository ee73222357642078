package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// MaxStack is the most program counters a lease records.
const MaxStack = 32

// PartConfig configures one partition.
type PartConfig struct {
	Name       string
	Guaranteed int // slots reserved for this partition
	Max        int // most slots this partition may hold at once
	MaxWaiting int // most callers that may wait at once; 0 means none may wait
}

// Config configures an Engine.
type Config struct {
	MaxConns int // hard cap on physical resources: idle, leased, opening and closing
	Parts    []PartConfig
}

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	if c.MaxConns < 1 {
		return fmt.Errorf("MaxConns is %d: it must be at least 1", c.MaxConns)
	}
	if c.MaxConns > MaxSlots {
		return fmt.Errorf("MaxConns is %d: it must be at most %d", c.MaxConns, MaxSlots)
	}
	if len(c.Parts) == 0 {
		return errors.New("no partitions: configure at least one")
	}
	sum := 0
	seen := make(map[string]bool, len(c.Parts))
	for _, p := range c.Parts {
		switch {
		case p.Name == "":
			return errors.New("a partition has no name: give each partition a unique name")
		case seen[p.Name]:
			return fmt.Errorf("partition %q is configured twice: names must be unique", p.Name)
		case p.Guaranteed < 0:
			return fmt.Errorf("partition %q: Guaranteed is %d: it must be 0 or more", p.Name, p.Guaranteed)
		case p.Max < 1:
			return fmt.Errorf("partition %q: Max is %d: it must be at least 1", p.Name, p.Max)
		case p.Max > c.MaxConns:
			return fmt.Errorf("partition %q: Max %d is above MaxConns %d: lower Max or raise MaxConns", p.Name, p.Max, c.MaxConns)
		case p.Guaranteed > p.Max:
			return fmt.Errorf("partition %q: Guaranteed %d is above its Max %d: lower Guaranteed or raise Max", p.Name, p.Guaranteed, p.Max)
		case p.MaxWaiting < 0:
			return fmt.Errorf("partition %q: MaxWaiting is %d: it must be 0 or more", p.Name, p.MaxWaiting)
		}
		seen[p.Name] = true
		sum += p.Guaranteed
	}
	if sum > c.MaxConns {
		return fmt.Errorf("the partitions' guarantees add up to %d, above MaxConns %d: lower a Guaranteed or raise MaxConns", sum, c.MaxConns)
	}
	return nil
}

// Reason says why an acquire was refused.
type Reason int

// Reasons an acquire is refused.
const (
	ReasonNone      Reason = iota
	ReasonClosed           // the engine is closed
	ReasonPaused           // the partition is paused
	ReasonQueueFull        // the partition's wait queue is full
	ReasonDeadline         // the caller's deadline has passed or cannot be met
	ReasonTimeout          // the caller's deadline passed while it waited
	ReasonCanceled         // the caller's context was canceled while it waited
	NumReasons             // the number of reasons, ReasonNone included
)

var reasonNames = [NumReasons]string{"", "closed", "paused", "queue_full", "deadline", "timeout", "canceled"}

// String returns the reason's name, as statistics and metrics use it.
func (r Reason) String() string {
	if r < 0 || r >= NumReasons {
		return "Reason(" + strconv.Itoa(int(r)) + ")"
	}
	return reasonNames[r]
}

// Slot is one physical resource and the record of its current lease.
type Slot[R any] struct {
	Res R

	word leaseWord
	id   uint32        // place in Engine.table while the slot lives
	next atomic.Uint32 // id+1 of the slot below it in an idle stack, 0 at the bottom

	part    *Part[R]
	expires instant // 0: never
	epoch   uint64  // Engine.epoch when the resource was opened

	// idleSince is written by whoever releases the slot, before it pushes
	// the slot on an idle stack, and read by whoever pops it.
	idleSince instant

	// The lease record, written by whoever starts the lease before it
	// stores the lease word, without the engine's lock. Readers hold the
	// lock with Engine.reading set (see lockRead).
	acquired  instant
	npcs      int
	pcs       [MaxStack]uintptr
	suspected atomic.Bool

	holds uint8 // releases since the last hold time sampled (see observeHold)

	closed bool // its place under MaxConns was given back; guarded by Engine.mu
}

// Part returns the index of the partition that owns s.
func (s *Slot[R]) Part() int { return s.part.idx }

// Expired reports whether s has outlived its lifetime at now.
func (s *Slot[R]) Expired(now time.Time) bool { return s.expired(at(now)) }

func (s *Slot[R]) expired(t instant) bool { return s.expires != 0 && t > s.expires }

// Part is one partition's state.
type Part[R any] struct {
	cfg  PartConfig
	idx  int
	solo bool // no other partition has a guarantee

	// Changed without the engine's lock by the leases that start and end
	// on the fast path (see Engine.Acquire and Engine.End), and with it by
	// the others.
	idle     idleStack[R]
	held     atomic.Int64 // leases granted, including those still opening their resource
	acquires atomic.Int64
	// Average hold time in nanoseconds, for the wait estimate; zero until
	// samples exist. Updates may overwrite each other: it is an estimate.
	holdAvg   atomic.Int64
	holdCount atomic.Int64
	paused    atomic.Bool // changed under Engine.mu

	// Guarded by Engine.mu.
	slots int // live slots, leased or idle
	// oldest names the oldest lease (see Slot.hint), when known (see
	// Engine.oldestLease). A lease starting or ending touches no other
	// slot: with another CPU holding the last lease, that would cost a
	// cache line's transfer.
	oldest     uint64
	queue      waitQueue[R]
	suspects   int // leased slots marked suspected
	opening    int // opens planned by Maintain and not yet reported by OpenedIdle
	connecting int // grants whose resource is being opened by their caller

	waits, empties, opens, openFails, closes int64
	closesLifetime, closesIdle               int64
	rejects                                  [NumReasons]int64
}

// Grant is what an acquire obtains: a leased slot, or the right to open a
// new resource for this partition. In the second case, Evict, when set, is an
// idle slot of another partition whose resource the caller must close first:
// its place under MaxConns passes to the new one.
type Grant[R any] struct {
	Slot  *Slot[R]
	Evict *Slot[R]
}

// Engine is the pool engine. Its zero value is not usable: call New.
//
// A lease that takes an idle slot of its partition, and its plain release
// back to it, take no lock while no caller waits and no other partition's
// guarantee is at stake: the slot moves through the partition's lock-free
// idle stack, and the counts are atomic. Everything else (waiting,
// opening, evicting, revoking, maintenance) takes mu. Under contention a
// lock held by a preempted goroutine stalls every acquire behind it, and a
// clock read between two lock operations stretches the queue: the fast
// path has neither problem.
type Engine[R any] struct {
	mu      sync.Mutex
	max     int
	total   int // idle + leased + opening + closing
	parts   []*Part[R]
	seq     uint64    // waiter arrival order across partitions
	waiters sync.Pool // of *waiter[R], with their channels, for reuse

	// table holds the live slots, leased or idle, by id: the idle stacks
	// link them by it. Ids freed by slots gone are reused, below nextID.
	table   atomic.Pointer[slotTable[R]]
	freeIDs []uint32
	nextID  uint32

	// Changed under mu, read without it by the fast path.
	waiting atomic.Int64 // callers queued, and one looking for a grant under mu
	closed  atomic.Bool
	epoch   atomic.Uint64 // Reset's count: a slot opened before the last Reset is not reused
	reading atomic.Bool   // lease records are being read (see lockRead)
}

// lockRead takes the lock to read lease records. While reading is set, a
// lease that ends without the lock puts its slot back under the lock
// (see End), so no slot whose lease was seen held is retaken, and its
// record rewritten, before unlockRead.
func (e *Engine[R]) lockRead() {
	e.mu.Lock()
	e.reading.Store(true)
}

func (e *Engine[R]) unlockRead() {
	e.reading.Store(false)
	e.mu.Unlock()
}

// New returns an engine for cfg.
func New[R any](cfg Config) (*Engine[R], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine[R]{max: cfg.MaxConns}
	e.table.Store(&slotTable[R]{})
	guaranteed := 0
	for _, pc := range cfg.Parts {
		guaranteed += pc.Guaranteed
	}
	for i, pc := range cfg.Parts {
		e.parts = append(e.parts, &Part[R]{cfg: pc, idx: i, solo: guaranteed == pc.Guaranteed})
	}
	return e, nil
}

// admissible reports whether p may take one more lease: below its Max, and
// either within its guarantee or using only capacity that no other
// partition holds or reserves. It must be called with e.mu held.
func (e *Engine[R]) admissible(p *Part[R]) bool { return e.admissibleAt(p, p.held.Load()) }

func (e *Engine[R]) admissibleAt(p *Part[R], held int64) bool {
	if held >= int64(p.cfg.Max) {
		return false
	}
	if held < int64(p.cfg.Guaranteed) {
		return true
	}
	others := 0
	for _, q := range e.parts {
		if q != p {
			others += max(int(q.held.Load()), q.cfg.Guaranteed)
		}
	}
	return others+int(held)+1 <= e.max
}

// reserve counts one more lease for p if it is admissible. It must be
// called with e.mu held; the fast path may change p.held meanwhile, hence
// the compare-and-swap.
func (e *Engine[R]) reserve(p *Part[R]) bool {
	for {
		h := p.held.Load()
		if !e.admissibleAt(p, h) {
			return false
		}
		if p.held.CompareAndSwap(h, h+1) {
			return true
		}
	}
}

// reserveFast is reserve without the lock, for a caller about to take an
// idle slot of p: it counts the lease only where that cannot eat into
// another partition's guarantee, within p's own or when no other
// partition has one. The idle slot is then the lease's place under
// MaxConns.
func (p *Part[R]) reserveFast() bool {
	for {
		h := p.held.Load()
		if h >= int64(p.cfg.Max) || (h >= int64(p.cfg.Guaranteed) && !p.solo) {
			return false
		}
		if p.held.CompareAndSwap(h, h+1) {
			return true
		}
	}
}

// lease starts a lease on s, whose caller took it from an idle stack or
// opened it, and has counted the lease in its partition's held.
func (s *Slot[R]) lease(t instant, pcs []uintptr) {
	s.acquired = t
	s.npcs = copy(s.pcs[:], pcs)
	if s.suspected.Load() {
		s.suspected.Store(false)
	}
	s.word.v.Store(pack(s.Gen()+1, stHeld))
}

// leased reports whether s is leased, as Leases lists it: held or busy.
func (s *Slot[R]) leased() bool {
	st := s.word.v.Load() & stMask
	return st == stHeld || st == stBusy
}

// hint names the current lease of s in Part.oldest.
func (s *Slot[R]) hint() uint64 { return s.Gen()<<idBits | uint64(s.id) + 1 }

// oldestLease returns when p's oldest lease started, if one is held. It
// is known in constant time while the lease found last is held; once it
// ended, the next is found among the slots. It must be called between
// lockRead and unlockRead.
func (e *Engine[R]) oldestLease(p *Part[R]) (instant, bool) {
	if p.held.Load() == int64(p.connecting) {
		return 0, false
	}
	if h := p.oldest; h != 0 {
		if s := (*e.table.Load())[h&idMask-1].Load(); s != nil && s.leased() && s.hint() == h {
			return s.acquired, true
		}
	}
	var best *Slot[R]
	for s := range e.live() {
		if s.part == p && s.leased() && (best == nil || s.acquired < best.acquired) {
			best = s
		}
	}
	if best == nil {
		return 0, false
	}
	p.oldest = best.hint()
	return best.acquired, true
}

// Acquire obtains a grant for partition part, waiting in the partition's FIFO
// queue while none is available. pcs is the caller's stack, recorded in the
// lease. On refusal it returns the reason, and the time it waited.
func (e *Engine[R]) Acquire(ctx context.Context, part int, pcs []uintptr) (Grant[R], Reason, time.Duration) {
	p := e.parts[part]
	now := clock()
	if s := e.acquireFast(p, now, pcs); s != nil {
		return Grant[R]{Slot: s}, ReasonNone, 0
	}
	e.mu.Lock()
	if r := e.refuse(p); r != ReasonNone {
		p.rejects[r]++
		e.mu.Unlock()
		return Grant[R]{}, r, 0
	}
	// Counted before looking for an idle slot: a release that pushes one
	// without the lock looks for callers after (see End), so either it
	// sees this one or this one finds its slot.
	e.waiting.Add(1)
	if p.queue.empty() {
		if g, ok := e.grant(p, pcs, now); ok {
			e.waiting.Add(-1)
			p.acquires.Add(1)
			e.mu.Unlock()
			return g, ReasonNone, 0
		}
	}
	if r := e.mustNotWait(ctx, p); r != ReasonNone {
		e.waiting.Add(-1)
		p.rejects[r]++
		e.mu.Unlock()
		return Grant[R]{}, r, 0
	}
	w := e.newWaiter(now, pcs)
	p.queue.push(w)
	e.mu.Unlock()
	defer e.waiters.Put(w) // nothing refers to w once Acquire returns

	select {
	case res := <-w.ch:
		return res.grant, res.reason, w.start.until(clock())
	case <-ctx.Done():
	}
	e.mu.Lock()
	if w.queued {
		p.queue.remove(w)
		e.waiting.Add(-1)
		r := ReasonCanceled
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r = ReasonTimeout
		}
		p.rejects[r]++
		e.mu.Unlock()
		return Grant[R]{}, r, w.start.until(clock())
	}
	e.mu.Unlock()
	// Served as the context ended: the grant is ours, so use it rather than
	// hand it back, as the caller may still have time to run its query.
	res := <-w.ch
	return res.grant, res.reason, w.start.until(clock())
}

// acquireFast leases the top idle slot of p without the lock, when the
// lock's view is not needed: nobody waits in p's queue (a newcomer must
// not pass them), the engine is open, p is not paused, and p may count the
// lease alone (reserveFast). Callers waiting in other partitions do not
// need p's idle slot: one that could take it (by eviction) is served as
// the slot goes idle, under the lock. It returns nil when the caller must
// take the lock.
//
// The lease is counted before the slot is popped, so that a slot taken
// without the lock never has to go back without it (past a Close that
// emptied the stacks meanwhile). If another caller took the last idle
// slot in between, the count is given back, and the callers it turned
// away meanwhile are served: they counted themselves in waiting before
// reading it.
func (e *Engine[R]) acquireFast(p *Part[R], now instant, pcs []uintptr) *Slot[R] {
	if p.queue.n.Load() != 0 || e.closed.Load() || p.paused.Load() || p.idle.empty() || !p.reserveFast() {
		return nil
	}
	s := p.idle.pop(&e.table)
	if s == nil {
		p.held.Add(-1)
		if e.waiting.Load() != 0 {
			e.mu.Lock()
			e.dispatch(p, now)
			e.mu.Unlock()
		}
		return nil
	}
	s.lease(now, pcs)
	p.acquires.Add(1)
	return s
}

// newWaiter returns a waiter, reused from an earlier wait when one is at
// hand, so that waiting allocates nothing. It must be called with e.mu
// held.
func (e *Engine[R]) newWaiter(t instant, pcs []uintptr) *waiter[R] {
	w, _ := e.waiters.Get().(*waiter[R])
	if w == nil {
		w = &waiter[R]{ch: make(chan result[R], 1)}
	}
	w.start = t
	w.npcs = copy(w.pcs[:], pcs)
	e.seq++
	w.seq = e.seq
	return w
}

func (e *Engine[R]) refuse(p *Part[R]) Reason {
	switch {
	case e.closed.Load():
		return ReasonClosed
	case p.paused.Load():
		return ReasonPaused
	}
	return ReasonNone
}

// mustNotWait decides, before queueing, whether waiting is pointless.
func (e *Engine[R]) mustNotWait(ctx context.Context, p *Part[R]) Reason {
	if p.queue.n.Load() >= int64(p.cfg.MaxWaiting) {
		return ReasonQueueFull
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return ReasonNone
	}
	left := time.Until(deadline)
	if left <= 0 {
		return ReasonDeadline
	}
	if est := e.expectedWait(p); est > 0 && left < est {
		return ReasonDeadline
	}
	return ReasonNone
}

// expectedWait estimates how long a new waiter would wait: the holders
// release, on average, one slot every holdAvg/held, and the waiter is served
// after everyone ahead of it. It returns 0 (no estimate) until enough leases
// were observed, so a cold pool never refuses on a guess.
func (e *Engine[R]) expectedWait(p *Part[R]) time.Duration {
	held := p.held.Load()
	if p.holdCount.Load() < minHoldSamples || held == 0 {
		return 0
	}
	return time.Duration(p.holdAvg.Load() * (p.queue.n.Load() + 1) / held)
}

const minHoldSamples = 32

// grant hands p a lease if it is admissible and a resource can be had
// without waiting: an idle one of its own, a free place under MaxConns, or
// an idle one of another partition to evict. It must be called with e.mu
// held.
func (e *Engine[R]) grant(p *Part[R], pcs []uintptr, now instant) (Grant[R], bool) {
	if !e.reserve(p) {
		return Grant[R]{}, false
	}
	if s := p.idle.pop(&e.table); s != nil {
		s.lease(now, pcs)
		return Grant[R]{Slot: s}, true
	}
	if e.total < e.max {
		e.total++
		p.connecting++
		p.empties++
		return Grant[R]{}, true
	}
	if v := e.victim(p); v != nil {
		p.connecting++
		p.empties++
		return Grant[R]{Evict: v}, true
	}
	p.held.Add(-1)
	return Grant[R]{}, false
}

// victim removes and returns the least recently used idle slot of another
// partition, or nil. It must be called with e.mu held.
func (e *Engine[R]) victim(p *Part[R]) *Slot[R] {
	idle := make([][]*Slot[R], len(e.parts))
	var best *Part[R]
	for i, q := range e.parts {
		if q == p {
			continue
		}
		if idle[i] = q.idle.drain(&e.table); len(idle[i]) == 0 {
			continue
		}
		if best == nil || bottom(idle[i]).idleSince < bottom(idle[best.idx]).idleSince {
			best = q
		}
	}
	var s *Slot[R]
	if best != nil {
		l := idle[best.idx]
		s, idle[best.idx] = bottom(l), l[:len(l)-1]
		e.unregister(s)
		best.closes++
	}
	for i, q := range e.parts {
		q.idle.restore(&e.table, idle[i])
	}
	return s
}

// bottom returns the least recently released of slots, which drain
// returned top first.
func bottom[R any](slots []*Slot[R]) *Slot[R] { return slots[len(slots)-1] }

// dispatch serves waiters while capacity allows: the partition first (the
// owner of a freed slot) before the others, then whichever admissible
// partition has waited longest. It must be called with e.mu held.
func (e *Engine[R]) dispatch(first *Part[R], now instant) {
	for e.waiting.Load() > 0 {
		p := first
		if p == nil || p.queue.empty() || !e.admissible(p) {
			p = nil
			for _, q := range e.parts {
				if !q.queue.empty() && e.admissible(q) && (p == nil || q.queue.head.seq < p.queue.head.seq) {
					p = q
				}
			}
			if p == nil {
				return
			}
		}
		w := p.queue.head
		g, ok := e.grant(p, w.pcs[:w.npcs], now)
		if !ok {
			return
		}
		p.queue.remove(w)
		e.waiting.Add(-1)
		p.acquires.Add(1)
		p.waits++
		if g.Slot != nil {
			p.empties++ // a grant to open a resource was counted in grant
		}
		w.ch <- result[R]{grant: g}
	}
}

// Opened registers the resource opened for a grant that carried no slot,
// and returns its slot, leased to the caller.
func (e *Engine[R]) Opened(part int, res R, expires time.Time, pcs []uintptr) *Slot[R] {
	p := e.parts[part]
	s := &Slot[R]{Res: res, part: p, expires: at(expires)}
	now := clock()
	e.mu.Lock()
	p.opens++
	p.connecting--
	s.epoch = e.epoch.Load()
	e.register(s)
	s.lease(now, pcs)
	e.mu.Unlock()
	return s
}

// OpenFailed gives back a grant whose resource could not be opened.
func (e *Engine[R]) OpenFailed(part int) {
	p := e.parts[part]
	now := clock()
	e.mu.Lock()
	p.openFails++
	p.connecting--
	p.held.Add(-1)
	e.total--
	e.dispatch(p, now)
	e.mu.Unlock()
}

// register makes s live: it gives s an id, its place in the table. It
// must be called with e.mu held.
func (e *Engine[R]) register(s *Slot[R]) {
	s.part.slots++
	if n := len(e.freeIDs); n > 0 {
		s.id, e.freeIDs = e.freeIDs[n-1], e.freeIDs[:n-1]
	} else {
		s.id = e.nextID
		e.nextID++
		if t := *e.table.Load(); int(s.id) >= len(t) {
			grown := make(slotTable[R], max(16, 2*len(t)))
			for i := range t {
				grown[i].Store(t[i].Load())
			}
			e.table.Store(&grown)
		}
	}
	(*e.table.Load())[s.id].Store(s)
}

// unregister takes s out of the live slots, if it is one; it must be in
// no idle stack. It must be called with e.mu held.
func (e *Engine[R]) unregister(s *Slot[R]) {
	t := *e.table.Load()
	if int(s.id) >= len(t) || t[s.id].Load() != s {
		return
	}
	t[s.id].Store(nil)
	e.freeIDs = append(e.freeIDs, s.id)
	s.part.slots--
}

// live returns the live slots, in no order. It must be called with e.mu
// held.
func (e *Engine[R]) live() iter.Seq[*Slot[R]] {
	return func(yield func(*Slot[R]) bool) {
		t := *e.table.Load()
		for i := range t {
			if s := t[i].Load(); s != nil && !yield(s) {
				return
			}
		}
	}
}

// Close refuses new acquires, fails every waiter with ReasonClosed, and
// returns the idle slots, whose resources the caller must close, calling
// Closed for each. Leased slots stay with their holders.
func (e *Engine[R]) Close() []*Slot[R] {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Set before the idle stacks are emptied: a release that pushes a slot
	// without the lock checks it after (see End).
	e.closed.Store(true)
	var idle []*Slot[R]
	for _, p := range e.parts {
		for w := p.queue.head; w != nil; w = p.queue.head {
			p.queue.remove(w)
			e.waiting.Add(-1)
			p.rejects[ReasonClosed]++
			w.ch <- result[R]{reason: ReasonClosed}
		}
		for _, s := range p.idle.drain(&e.table) {
			e.unregister(s)
			p.closes++
			idle = append(idle, s)
		}
	}
	return idle
}

// SetPaused pauses or resumes a partition. While paused, its acquires fail
// at once with ReasonPaused, and so do the callers already waiting.
func (e *Engine[R]) SetPaused(part int, paused bool) {
	p := e.parts[part]
	e.mu.Lock()
	defer e.mu.Unlock()
	p.paused.Store(paused)
	if !paused {
		return
	}
	for w := p.queue.head; w != nil; w = p.queue.head {
		p.queue.remove(w)
		e.waiting.Add(-1)
		p.rejects[ReasonPaused]++
		w.ch <- result[R]{reason: ReasonPaused}
	}
}

// Paused reports whether a partition is paused.
func (e *Engine[R]) Paused(part int) bool { return e.parts[part].paused.Load() }
