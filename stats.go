package poolguard

import (
	"runtime"
	"time"
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
		t.Opening += p.Opening
		t.Acquires += p.Acquires
		t.WaitedAcquires += p.WaitedAcquires
		t.EmptyAcquires += p.EmptyAcquires
		t.WaitTime = t.WaitTime.merge(p.WaitTime)
		t.UseTime = t.UseTime.merge(p.UseTime)
		t.OpenTime = t.OpenTime.merge(p.OpenTime)
		t.MinConns += p.MinConns
		t.Opened += p.Opened
		t.OpenFailures += p.OpenFailures
		t.Closed += p.Closed
		t.ClosedLifetime += p.ClosedLifetime
		t.ClosedIdle += p.ClosedIdle
		t.Rejected.add(p.Rejected)
		t.Leaks.add(p.Leaks)
		t.Reclaimed.add(p.Reclaimed)
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

	Opening        int                   // connections being opened now
	Acquires       int64                 // leases granted
	WaitedAcquires int64                 // leases granted after waiting
	EmptyAcquires  int64                 // leases that found no idle connection: they waited for one, or opened one
	Opened         int64                 // connections opened
	OpenFailures   int64                 // connections that failed to open
	Closed         int64                 // connections closed, or taken out of the pool to close
	ClosedLifetime int64                 // of those, closed for reaching MaxConnLifetime
	ClosedIdle     int64                 // of those, closed for staying idle past MaxConnIdleTime
	Rejected       Counts[RejectReason]  // acquires refused, by reason
	Leaks          Counts[LeakKind]      // leak events, by kind
	LeakSites      []LeakSite            // leak events by the call site that acquired, sorted by call site
	Reclaimed      Counts[ReclaimReason] // connections taken back from holders, by reason
	MinConns       int                   // connections kept open while idle

	// Distributions: the time an acquire took to obtain a connection
	// (queueing and opening included), how long leases were held (reclaimed
	// leaks included), and how long opening a connection took.
	WaitTime, UseTime, OpenTime Histogram
}

// Timeouts counts the acquires that failed for lack of time, with or
// without waiting.
func (s PartitionStats) Timeouts() int64 {
	return s.Rejected.Of(RejectDeadline) + s.Rejected.Of(RejectTimeout)
}

// LeaksProven counts the proven leaks of every kind.
func (s PartitionStats) LeaksProven() int64 {
	var n int64
	for _, k := range LeakKinds() {
		if k.Proven() {
			n += s.Leaks.Of(k)
		}
	}
	return n
}

// LeakSite counts the leak events of the leases acquired at one call site.
type LeakSite struct {
	CallSite string // file:line, as in LeakEvent, or OtherCallSites
	Leaks    Counts[LeakKind]
}

// Counts counts events by kind or reason: leaks by LeakKind, reclaims by
// ReclaimReason, rejected acquires by RejectReason. LeakKinds,
// ReclaimReasons and RejectReasons list the values to read.
type Counts[K counted] struct{ n [maxCounted]int64 }

// counted are the kinds and reasons that Counts counts.
type counted interface {
	LeakKind | ReclaimReason | RejectReason
	String() string
}

// maxCounted bounds the values of every counted type.
const maxCounted = 8

// Of returns the count of k.
func (c Counts[K]) Of(k K) int64 {
	if k < 0 || int(k) >= maxCounted {
		return 0
	}
	return c.n[k]
}

// Total returns the sum of every count.
func (c Counts[K]) Total() int64 {
	var n int64
	for _, v := range c.n {
		n += v
	}
	return n
}

func (c *Counts[K]) add(o Counts[K]) {
	for i, v := range o.n {
		c.n[i] += v
	}
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
