package engine

import (
	"cmp"
	"slices"
	"time"
)

// PartStats is a snapshot of one partition.
type PartStats struct {
	Name                        string
	Held, Idle, Waiting         int
	Guaranteed, Max, MaxWaiting int
	Paused                      bool
	OldestAcquired              time.Time // zero when nothing is held
	Suspected                   int       // leases held now that were marked suspected
	Opening                     int       // resources being opened
	Acquires, Waits             int64
	Empties                     int64 // acquires that found no idle resource: they waited or opened one
	Opens, OpenFails, Closes    int64
	ClosesLifetime, ClosesIdle  int64 // closes of expired slots, and of slots idle too long
	Rejects                     [NumReasons]int64
}

// Borrowed is how many of the partition's leases are beyond its guarantee.
func (s PartStats) Borrowed() int { return max(0, s.Held-s.Guaranteed) }

// Rejected returns how many acquires were refused for reason r.
func (s PartStats) Rejected(r Reason) int64 { return s.Rejects[r] }

// Stats is a snapshot of the engine.
type Stats struct {
	Max   int // MaxConns
	Total int // physical resources: idle, leased, opening and closing
	Parts []PartStats
}

// Stats returns a snapshot, taken under the engine's lock, so that its
// numbers agree with each other but for the leases starting or ending
// meanwhile without the lock. Its cost grows with the number of
// partitions; with the number of connections only when a partition's
// oldest lease ended since the previous call (see oldestLease).
func (e *Engine[R]) Stats() Stats {
	e.lockRead()
	defer e.unlockRead()
	st := Stats{Max: e.max, Total: e.total, Parts: make([]PartStats, len(e.parts))}
	for i, p := range e.parts {
		// Leases that start and end without the lock may do so while
		// this snapshot is taken: a slot between the two counts is idle.
		st.Parts[i] = PartStats{
			Name: p.cfg.Name, Held: int(p.held.Load()), Idle: max(0, p.slots-int(p.held.Load())+p.connecting), Waiting: int(p.queue.n.Load()),
			Guaranteed: p.cfg.Guaranteed, Max: p.cfg.Max, MaxWaiting: p.cfg.MaxWaiting,
			Paused: p.paused.Load(), Suspected: p.suspects,
			Opening: p.opening + p.connecting, Acquires: p.acquires.Load(), Waits: p.waits, Empties: p.empties,
			Opens: p.opens, OpenFails: p.openFails, Closes: p.closes,
			ClosesLifetime: p.closesLifetime, ClosesIdle: p.closesIdle, Rejects: p.rejects,
		}
		if t, ok := e.oldestLease(p); ok {
			st.Parts[i].OldestAcquired = t.time()
		}
	}
	return st
}

// Lease is a snapshot of one lease.
type Lease[R any] struct {
	Slot      *Slot[R]
	Gen       uint64
	Part      int
	Acquired  time.Time
	PCs       []uintptr
	Busy      bool
	Suspected bool
}

// Leases returns a snapshot of every current lease, by partition, oldest
// first in each. It copies every lease record under the lock, the stacks
// into one array, and sorts them.
func (e *Engine[R]) Leases() []Lease[R] {
	e.lockRead()
	defer e.unlockRead()
	n := 0
	for _, p := range e.parts {
		n += int(p.held.Load())
	}
	out := make([]Lease[R], 0, n)
	ends := make([]int, 0, n)
	var pcs []uintptr
	for s := range e.live() {
		if s.leased() {
			out = append(out, s.record(false))
			pcs = append(pcs, s.pcs[:s.npcs]...)
			ends = append(ends, len(pcs))
		}
	}
	start := 0
	for i, end := range ends {
		out[i].PCs = pcs[start:end:end]
		start = end
	}
	slices.SortFunc(out, func(a, b Lease[R]) int {
		return cmp.Or(cmp.Compare(a.Part, b.Part), a.Acquired.Compare(b.Acquired))
	})
	return out
}

// record copies s's lease record, with its stack if pcs is true. It must
// be called between lockRead and unlockRead, or by whoever ended the
// lease.
func (s *Slot[R]) record(pcs bool) Lease[R] {
	gen := s.Gen()
	l := Lease[R]{Slot: s, Gen: gen, Part: s.part.idx, Acquired: s.acquired.time(), Busy: s.Busy(gen), Suspected: s.suspected.Load()}
	if pcs {
		l.PCs = append([]uintptr(nil), s.pcs[:s.npcs]...)
	}
	return l
}

// MarkSuspected flags the lease gen of s as suspected, and reports whether
// it was not flagged already, so each suspect is reported once.
func (e *Engine[R]) MarkSuspected(s *Slot[R], gen uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	// Marked first, checked after: a release without the lock changes the
	// word first and looks at the mark after, so either it sees the mark
	// and settles under the lock, or this sees the lease ended.
	if !s.suspected.CompareAndSwap(false, true) {
		return false
	}
	if !s.leased() || s.Gen() != gen {
		s.suspected.Store(false)
		return false
	}
	s.part.suspects++
	return true
}

// IdleSince returns when s was last released. It is only meaningful to the
// holder of s's current lease.
func (s *Slot[R]) IdleSince() time.Time { return s.idleSince.time() }

// Acquired returns when s's current lease started. It is only meaningful
// to the holder of the lease.
func (s *Slot[R]) Acquired() time.Time { return s.acquired.time() }

// IdleBefore returns how long s was idle before its current lease started.
// It is only meaningful to the holder of the lease.
func (s *Slot[R]) IdleBefore() time.Duration { return s.idleSince.until(s.acquired) }
