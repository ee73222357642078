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

// Stats returns a snapshot, taken under the engine's lock in one step so
// its numbers agree with each other. Its cost grows with the number of
// partitions; with the number of connections only when a partition's
// oldest lease ended since the previous call (see oldestLease).
func (e *Engine[R]) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Stats{Max: e.max, Total: e.total, Parts: make([]PartStats, len(e.parts))}
	for i, p := range e.parts {
		st.Parts[i] = PartStats{
			Name: p.cfg.Name, Held: p.held, Idle: len(p.idle), Waiting: p.queue.n,
			Guaranteed: p.cfg.Guaranteed, Max: p.cfg.Max, MaxWaiting: p.cfg.MaxWaiting,
			Paused: p.paused, Suspected: p.suspects,
			Opening: p.opening + p.connecting, Acquires: p.acquires, Waits: p.waits, Empties: p.empties,
			Opens: p.opens, OpenFails: p.openFails, Closes: p.closes,
			ClosesLifetime: p.closesLifetime, ClosesIdle: p.closesIdle, Rejects: p.rejects,
		}
		if o := e.oldestLease(p); o != nil {
			st.Parts[i].OldestAcquired = o.acquired.time()
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
// first in each. It copies every lease record under the lock, in two
// allocations, and sorts them.
func (e *Engine[R]) Leases() []Lease[R] {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, npcs := 0, 0
	for _, s := range e.all {
		if s.leased {
			n++
			npcs += s.npcs
		}
	}
	out := make([]Lease[R], 0, n)
	for _, s := range e.all {
		if s.leased {
			out = append(out, s.record(false))
		}
	}
	slices.SortFunc(out, func(a, b Lease[R]) int {
		return cmp.Or(cmp.Compare(a.Part, b.Part), cmp.Compare(a.Slot.acquired, b.Slot.acquired))
	})
	pcs := make([]uintptr, 0, npcs)
	for i := range out {
		s := out[i].Slot
		start := len(pcs)
		pcs = append(pcs, s.pcs[:s.npcs]...)
		out[i].PCs = pcs[start:len(pcs):len(pcs)]
	}
	return out
}

// record copies s's lease record, with its stack if pcs is true. It must
// be called with e.mu held.
func (s *Slot[R]) record(pcs bool) Lease[R] {
	gen := s.Gen()
	l := Lease[R]{Slot: s, Gen: gen, Part: s.part.idx, Acquired: s.acquired.time(), Busy: s.Busy(gen), Suspected: s.suspected}
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
	if !s.leased || s.Gen() != gen || s.suspected {
		return false
	}
	s.suspected = true
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
