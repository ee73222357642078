package engine

import "time"

// instant is a point in time on the process's monotonic clock, in
// nanoseconds since the engine's start. Reading it costs half of time.Now,
// which reads the wall clock too, and the engine reads it on every acquire
// and release.
type instant int64

var start = time.Now()

// clock returns the current instant.
func clock() instant { return instant(time.Since(start)) }

// at returns the instant of t; the zero time gives 0, which the engine
// reads as "never" where a deadline may be absent.
func at(t time.Time) instant {
	if t.IsZero() {
		return 0
	}
	return instant(t.Sub(start))
}

// time returns the instant as a time.Time, with a monotonic reading.
func (i instant) time() time.Time { return start.Add(time.Duration(i)) }

// until returns how long before j the instant i was.
func (i instant) until(j instant) time.Duration { return time.Duration(j - i) }
