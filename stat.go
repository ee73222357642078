package poolguard

import "time"

// Stat is a snapshot of a pool or a partition in pgxpool's terms: the
// methods of pgxpool.Stat, with their names and meanings, so that code and
// exporters written for pgxpool keep working. Stats has the full picture,
// partitions and leaks included.
type Stat struct {
	s          PartitionStats
	maxConns   int
	totalConns int
}

// Stat returns a snapshot of the pool in pgxpool's terms.
func (p *Pool) Stat() *Stat {
	st := p.Stats()
	return &Stat{s: st.Total(), maxConns: st.MaxConns, totalConns: st.TotalConns}
}

// Stat returns a snapshot of the partition in pgxpool's terms: its Max
// stands for MaxConns, and its own connections for TotalConns.
func (pt *Partition) Stat() *Stat {
	s := pt.Stats()
	return &Stat{s: s, maxConns: s.Max, totalConns: s.InUse + s.Idle + s.Opening}
}

// AcquireCount is the number of successful acquires.
func (s *Stat) AcquireCount() int64 { return s.s.Acquires }

// AcquireDuration is the total time successful acquires waited for a
// connection, opening one included.
func (s *Stat) AcquireDuration() time.Duration { return s.s.WaitTime.Sum }

// AcquiredConns is the number of connections leased now.
func (s *Stat) AcquiredConns() int32 { return int32(s.s.InUse) }

// CanceledAcquireCount is the number of acquires that failed because their
// context ended, before or while waiting.
func (s *Stat) CanceledAcquireCount() int64 {
	return s.s.Rejected.Of(RejectCanceled) + s.s.Timeouts()
}

// ConstructingConns is the number of connections being opened now.
func (s *Stat) ConstructingConns() int32 { return int32(s.s.Opening) }

// EmptyAcquireCount is the number of successful acquires that found no
// idle connection: they waited for one to be released or opened.
func (s *Stat) EmptyAcquireCount() int64 { return s.s.EmptyAcquires }

// EmptyAcquireWaitTime is the total time those acquires waited. An acquire
// that found an idle connection waits no time, so it is AcquireDuration.
func (s *Stat) EmptyAcquireWaitTime() time.Duration { return s.s.WaitTime.Sum }

// IdleConns is the number of idle connections now.
func (s *Stat) IdleConns() int32 { return int32(s.s.Idle) }

// MaxConns is the most connections the pool may hold.
func (s *Stat) MaxConns() int32 { return int32(s.maxConns) }

// TotalConns is the number of connections now: idle, in use and being
// opened (and, for a pool, being closed).
func (s *Stat) TotalConns() int32 { return int32(s.totalConns) }

// NewConnsCount is the number of connections opened.
func (s *Stat) NewConnsCount() int64 { return s.s.Opened }

// MaxLifetimeDestroyCount is the number of connections closed for reaching
// MaxConnLifetime.
func (s *Stat) MaxLifetimeDestroyCount() int64 { return s.s.ClosedLifetime }

// MaxIdleDestroyCount is the number of connections closed for staying idle
// past MaxConnIdleTime.
func (s *Stat) MaxIdleDestroyCount() int64 { return s.s.ClosedIdle }
