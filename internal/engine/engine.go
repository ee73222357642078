package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
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

	part    *Part[R]
	idx     int     // index in Engine.all; -1 once destroyed
	expires instant // 0: never

	// Guarded by Engine.mu.
	idleSince instant
	acquired  instant
	leased    bool
	suspected bool
	closed    bool   // its place under MaxConns was given back
	epoch     uint64 // Engine.epoch when the resource was opened
	npcs      int
	pcs       [MaxStack]uintptr
}

// Part returns the index of the partition that owns s.
func (s *Slot[R]) Part() int { return s.part.idx }

// Expired reports whether s has outlived its lifetime at now.
func (s *Slot[R]) Expired(now time.Time) bool { return s.expired(at(now)) }

func (s *Slot[R]) expired(t instant) bool { return s.expires != 0 && t > s.expires }

// Part is one partition's state. All fields are guarded by Engine.mu.
type Part[R any] struct {
	cfg    PartConfig
	idx    int
	held   int        // leases granted, including those still opening their resource
	idle   []*Slot[R] // LIFO: the most recently used resource is the warmest
	queue  waitQueue[R]
	paused bool

	// leased counts the leased slots; oldest is the one whose lease is
	// the oldest, when known (see Engine.oldestLease). A lease starting or
	// ending touches no other slot: under the lock, with another CPU
	// holding the last lease, that would cost a cache line's transfer.
	leased   int
	oldest   *Slot[R]
	suspects int // leased slots marked suspected

	opening    int // opens planned by Maintain and not yet reported by OpenedIdle
	connecting int // grants whose resource is being opened by their caller

	// Average hold time, for the wait estimate; zero until samples exist.
	holdAvg   time.Duration
	holdCount int64

	acquires, waits, empties, opens, openFails, closes int64
	closesLifetime, closesIdle                         int64
	rejects                                            [NumReasons]int64
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
type Engine[R any] struct {
	mu       sync.Mutex
	max      int
	total    int // idle + leased + opening + closing
	held     int // leases over all partitions
	reserved int // unused guarantees over all partitions
	waiting  int
	closed   bool
	parts    []*Part[R]
	all      []*Slot[R] // every live slot, leased or idle
	seq      uint64     // waiter arrival order across partitions
	epoch    uint64     // Reset's count: a slot opened before the last Reset is not reused
	waiters  sync.Pool  // of *waiter[R], with their channels, for reuse
}

// New returns an engine for cfg.
func New[R any](cfg Config) (*Engine[R], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine[R]{max: cfg.MaxConns}
	for i, pc := range cfg.Parts {
		e.parts = append(e.parts, &Part[R]{cfg: pc, idx: i})
		e.reserved += pc.Guaranteed
	}
	return e, nil
}

// admissible reports whether p may take one more lease: below its Max, and
// either within its guarantee or using only capacity that no other
// partition's unused guarantee reserves.
func (e *Engine[R]) admissible(p *Part[R]) bool {
	if p.held >= p.cfg.Max {
		return false
	}
	if p.held < p.cfg.Guaranteed {
		return true
	}
	return e.held+1+e.reserved <= e.max
}

func (e *Engine[R]) addHeld(p *Part[R], d int) {
	if p.held < p.cfg.Guaranteed || (d < 0 && p.held <= p.cfg.Guaranteed) {
		e.reserved -= d
	}
	p.held += d
	e.held += d
}

func (s *Slot[R]) lease(t instant, pcs []uintptr) {
	p := s.part
	s.leased = true
	s.suspected = false
	s.acquired = t
	// The only lease is the oldest; a lease that starts while others are
	// held is not, and leaves what is known of the oldest as it was.
	if p.leased++; p.leased == 1 {
		p.oldest = s
	}
	s.npcs = copy(s.pcs[:], pcs)
	s.word.v.Store(pack(s.Gen()+1, stHeld))
}

// unlease takes s out of its partition's leased slots. It must be called
// with e.mu held.
func (s *Slot[R]) unlease() {
	p := s.part
	s.leased = false
	if s.suspected {
		p.suspects--
	}
	p.leased--
	if p.oldest == s {
		p.oldest = nil // found again when asked for
	}
}

// oldestLease returns the slot of p's oldest lease, or nil when none is
// held. It is known in constant time unless the oldest lease ended since
// it was last asked for; it is then found among the slots, once. It must
// be called with e.mu held.
func (e *Engine[R]) oldestLease(p *Part[R]) *Slot[R] {
	if p.leased == 0 || p.oldest != nil {
		return p.oldest
	}
	for _, s := range e.all {
		if s.leased && s.part == p && (p.oldest == nil || s.acquired < p.oldest.acquired) {
			p.oldest = s
		}
	}
	return p.oldest
}

// Acquire obtains a grant for partition part, waiting in the partition's FIFO
// queue while none is available. pcs is the caller's stack, recorded in the
// lease. On refusal it returns the reason, and the time it waited.
func (e *Engine[R]) Acquire(ctx context.Context, part int, pcs []uintptr) (Grant[R], Reason, time.Duration) {
	p := e.parts[part]
	now := clock() // read outside the lock, which stays short
	e.mu.Lock()
	if r := e.refuse(p); r != ReasonNone {
		p.rejects[r]++
		e.mu.Unlock()
		return Grant[R]{}, r, 0
	}
	if p.queue.empty() && e.admissible(p) {
		if g, ok := e.grant(p, pcs, now); ok {
			p.acquires++
			e.mu.Unlock()
			return g, ReasonNone, 0
		}
	}
	if r := e.mustNotWait(ctx, p); r != ReasonNone {
		p.rejects[r]++
		e.mu.Unlock()
		return Grant[R]{}, r, 0
	}
	w := e.newWaiter(now, pcs)
	p.queue.push(w)
	e.waiting++
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
		e.waiting--
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
	case e.closed:
		return ReasonClosed
	case p.paused:
		return ReasonPaused
	}
	return ReasonNone
}

// mustNotWait decides, before queueing, whether waiting is pointless.
func (e *Engine[R]) mustNotWait(ctx context.Context, p *Part[R]) Reason {
	if p.queue.n >= p.cfg.MaxWaiting {
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
	if p.holdCount < minHoldSamples || p.held == 0 {
		return 0
	}
	return p.holdAvg * time.Duration(p.queue.n+1) / time.Duration(p.held)
}

const minHoldSamples = 32

// grant hands p a lease if a resource can be had without waiting: an idle
// one of its own, a free place under MaxConns, or an idle one of another
// partition to evict. It must be called with e.mu held and p admissible.
func (e *Engine[R]) grant(p *Part[R], pcs []uintptr, now instant) (Grant[R], bool) {
	if n := len(p.idle); n > 0 {
		s := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		e.addHeld(p, 1)
		s.lease(now, pcs)
		return Grant[R]{Slot: s}, true
	}
	if e.total < e.max {
		e.total++
		e.addHeld(p, 1)
		p.connecting++
		p.empties++
		return Grant[R]{}, true
	}
	if v := e.victim(p); v != nil {
		e.addHeld(p, 1)
		p.connecting++
		p.empties++
		return Grant[R]{Evict: v}, true
	}
	return Grant[R]{}, false
}

// victim removes and returns the least recently used idle slot of another
// partition, or nil.
func (e *Engine[R]) victim(p *Part[R]) *Slot[R] {
	var best *Part[R]
	for _, q := range e.parts {
		if q != p && len(q.idle) > 0 && (best == nil || q.idle[0].idleSince < best.idle[0].idleSince) {
			best = q
		}
	}
	if best == nil {
		return nil
	}
	s := best.idle[0]
	best.idle = append(best.idle[:0], best.idle[1:]...)
	e.unregister(s)
	best.closes++
	return s
}

// dispatch serves waiters while capacity allows: the partition first (the
// owner of a freed slot) before the others, then whichever admissible
// partition has waited longest. It must be called with e.mu held.
func (e *Engine[R]) dispatch(first *Part[R], now instant) {
	for e.waiting > 0 {
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
		e.waiting--
		p.acquires++
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
	s.epoch = e.epoch
	s.idx = len(e.all)
	e.all = append(e.all, s)
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
	e.addHeld(p, -1)
	e.total--
	e.dispatch(p, now)
	e.mu.Unlock()
}

func (e *Engine[R]) unregister(s *Slot[R]) {
	if s.idx < 0 {
		return
	}
	last := len(e.all) - 1
	e.all[s.idx] = e.all[last]
	e.all[s.idx].idx = s.idx
	e.all[last] = nil
	e.all = e.all[:last]
	s.idx = -1
}

// Close refuses new acquires, fails every waiter with ReasonClosed, and
// returns the idle slots, whose resources the caller must close, calling
// Closed for each. Leased slots stay with their holders.
func (e *Engine[R]) Close() []*Slot[R] {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	var idle []*Slot[R]
	for _, p := range e.parts {
		for w := p.queue.head; w != nil; w = p.queue.head {
			p.queue.remove(w)
			p.rejects[ReasonClosed]++
			w.ch <- result[R]{reason: ReasonClosed}
		}
		for _, s := range p.idle {
			e.unregister(s)
			p.closes++
		}
		idle = append(idle, p.idle...)
		p.idle = nil
	}
	e.waiting = 0
	return idle
}

// SetPaused pauses or resumes a partition. While paused, its acquires fail
// at once with ReasonPaused, and so do the callers already waiting.
func (e *Engine[R]) SetPaused(part int, paused bool) {
	p := e.parts[part]
	e.mu.Lock()
	defer e.mu.Unlock()
	p.paused = paused
	if !paused {
		return
	}
	for w := p.queue.head; w != nil; w = p.queue.head {
		p.queue.remove(w)
		e.waiting--
		p.rejects[ReasonPaused]++
		w.ch <- result[R]{reason: ReasonPaused}
	}
}

// Paused reports whether a partition is paused.
func (e *Engine[R]) Paused(part int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.parts[part].paused
}
