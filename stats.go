package poolguard

import (
	"runtime"
	"slices"
	"time"

	"github.com/poolguard/poolguard/internal/engine"
)

// Stats is a snapshot of a pool, taken in one step so its numbers agree.
type Stats struct {
	MaxConns   int // the hard cap on connections
	TotalConns int // open connections: idle, in use, opening and closing
	Partitions []PartitionStats
}

// Total sums the partitions' statistics. Its OldestLease is the oldest
// over all partitions.
func (s Stats) Total() PartitionStats {
	t := PartitionStats{Name: "total"}
	for _, p := range s.Partitions {
		t.InUse += p.InUse
		t.Idle += p.Idle
		t.Max += p.Max
		t.Guaranteed += p.Guaranteed
		t.Borrowed += p.Borrowed
		t.Waiting += p.Waiting
		t.MaxWaiting += p.MaxWaiting
		t.OldestLease = max(t.OldestLease, p.OldestLease)
		t.Suspected += p.Suspected
		t.Acquires += p.Acquires
		t.WaitedAcquires += p.WaitedAcquires
		t.WaitTime = t.WaitTime.merge(p.WaitTime)
		t.UseTime = t.UseTime.merge(p.UseTime)
		t.CreateTime = t.CreateTime.merge(p.CreateTime)
		t.MinConns += p.MinConns
		t.Opened += p.Opened
		t.OpenFailures += p.OpenFailures
		t.Closed += p.Closed
		t.Rejected.add(p.Rejected)
		for i := range p.Leaks.n {
			t.Leaks.n[i] += p.Leaks.n[i]
		}
		for i := range p.Reclaimed.n {
			t.Reclaimed.n[i] += p.Reclaimed.n[i]
		}
	}
	t.Max = min(t.Max, s.MaxConns)
	return t
}

// PartitionStats is a snapshot of one partition.
type PartitionStats struct {
	Name        string
	InUse       int           // leases held
	Idle        int           // idle connections
	Max         int           // most leases the partition may hold
	Guaranteed  int           // leases reserved for it
	Borrowed    int           // leases beyond its guarantee
	Waiting     int           // callers in its wait queue
	MaxWaiting  int           // the queue's bound
	Paused      bool          // acquires refused with ErrPaused
	OldestLease time.Duration // age of the oldest lease held; zero if none
	Suspected   int           // leases held now that were reported as suspected leaks

	Acquires       int64         // leases granted
	WaitedAcquires int64         // leases granted after waiting
	Opened         int64         // connections opened
	OpenFailures   int64         // connections that failed to open
	Closed         int64         // connections closed or taken out to close
	Rejected       Rejections    // acquires refused, by reason
	Leaks          LeakCounts    // leak events, by kind
	Reclaimed      ReclaimCounts // connections taken back from holders, by reason
	MinConns       int           // connections kept open while idle

	// Distributions: the time an acquire took to obtain a connection
	// (queueing and opening included), how long leases were held (reclaimed
	// leaks included), and how long opening a connection took.
	WaitTime, UseTime, CreateTime Histogram
}

// Rejections counts refused acquires by reason.
type Rejections struct {
	Closed    int64 // the pool was closed
	Paused    int64 // the partition was paused
	QueueFull int64 // the wait queue was full
	Deadline  int64 // the deadline had passed or could not be met: refused without waiting
	Timeout   int64 // the deadline passed while waiting
	Canceled  int64 // the context was canceled while waiting
}

// Timeouts counts the acquires that failed for lack of time, with or
// without waiting.
func (r Rejections) Timeouts() int64 { return r.Deadline + r.Timeout }

func (r *Rejections) add(o Rejections) {
	r.Closed += o.Closed
	r.Paused += o.Paused
	r.QueueFull += o.QueueFull
	r.Deadline += o.Deadline
	r.Timeout += o.Timeout
	r.Canceled += o.Canceled
}

// LeakCounts counts leak events by kind.
type LeakCounts struct{ n [numLeakKinds]int64 }

// Of returns the count for kind k.
func (c LeakCounts) Of(k LeakKind) int64 {
	if k <= 0 || k >= numLeakKinds {
		return 0
	}
	return c.n[k]
}

// Proven returns the number of proven leaks of every kind.
func (c LeakCounts) Proven() int64 {
	var n int64
	for k := LeakUnreachable; k <= LeakOpenAtClose; k++ {
		n += c.n[k]
	}
	return n
}

// ReclaimCounts counts reclaimed connections by reason.
type ReclaimCounts struct{ n [numReclaimReasons]int64 }

// Of returns the count for reason r.
func (c ReclaimCounts) Of(r ReclaimReason) int64 {
	if r <= 0 || r >= numReclaimReasons {
		return 0
	}
	return c.n[r]
}

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
			Acquires:  e.Acquires, WaitedAcquires: e.Waits,
			Opened: e.Creates, OpenFailures: e.CreateFails, Closed: e.Closes,
			Rejected: Rejections{
				Closed: e.Rejected(engine.ReasonClosed), Paused: e.Rejected(engine.ReasonPaused),
				QueueFull: e.Rejected(engine.ReasonQueueFull), Deadline: e.Rejected(engine.ReasonDeadline),
				Timeout: e.Rejected(engine.ReasonTimeout), Canceled: e.Rejected(engine.ReasonCanceled),
			},
		}
		if !e.OldestAcquired.IsZero() {
			ps.OldestLease = now.Sub(e.OldestAcquired)
		}
		pt := p.parts[i]
		ps.MinConns = pt.cfg.MinConns
		ps.WaitTime, ps.UseTime, ps.CreateTime = pt.waitTime.snapshot(), pt.useTime.snapshot(), pt.createTime.snapshot()
		for k := range ps.Leaks.n {
			ps.Leaks.n[k] = pt.leaks[k].Load()
		}
		for r := range ps.Reclaimed.n {
			ps.Reclaimed.n[r] = pt.reclaims[r].Load()
		}
		st.Partitions[i] = ps
	}
	return st
}

// Stats returns a snapshot of the partition.
// The handle of an unknown name reports only its name.
func (pt *Partition) Stats() PartitionStats {
	if pt.err != nil {
		return PartitionStats{Name: pt.cfg.Name}
	}
	return pt.pool.Stats().Partitions[pt.idx]
}

// LeaseState is what a leased connection is doing.
type LeaseState int

// Lease states.
const (
	LeaseIdle          LeaseState = iota // held, nothing in progress
	LeaseActive                          // a query or open rows in progress
	LeaseInTransaction                   // between statements of a transaction
)

var leaseStateNames = [...]string{"idle", "active", "in_transaction"}

// String returns the state's name.
func (s LeaseState) String() string { return leaseStateNames[s] }

// LeaseInfo describes one lease.
type LeaseInfo struct {
	Partition string
	Acquired  time.Time
	Age       time.Duration
	CallSite  string          // file:line of the acquire
	Function  string          // the function that acquired
	Stack     []runtime.Frame // the acquiring stack, without poolguard's frames
	PID       uint32          // the server backend's process ID
	State     LeaseState
	Suspected bool // reported as a suspected leak
}

func (p *Pool) leases(part int) []LeaseInfo {
	now := time.Now()
	ls := p.eng.Leases()
	out := make([]LeaseInfo, 0, len(ls))
	for _, l := range ls {
		if part >= 0 && l.Part != part {
			continue
		}
		st := frames(l.PCs)
		site, fn := callSite(st)
		li := LeaseInfo{
			Partition: p.parts[l.Part].cfg.Name, Acquired: l.Acquired, Age: now.Sub(l.Acquired),
			CallSite: site, Function: fn, Stack: st, PID: l.Slot.Res.pid, Suspected: l.Suspected,
		}
		switch {
		case l.Busy:
			li.State = LeaseActive
		case l.Slot.Res.tx.Load() != 'I':
			li.State = LeaseInTransaction
		}
		out = append(out, li)
	}
	slices.SortFunc(out, func(a, b LeaseInfo) int { return a.Acquired.Compare(b.Acquired) })
	return out
}

// Leases returns a snapshot of the partition's leases, oldest first.
func (pt *Partition) Leases() []LeaseInfo {
	if pt.err != nil {
		return nil
	}
	return pt.pool.leases(pt.idx)
}
