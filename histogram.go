package poolguard

import (
	"sync/atomic"
	"time"
)

// Histogram is a snapshot of a distribution of durations, cumulative like a
// Prometheus histogram: Counts[i] is the number of observations at or below
// Bounds[i]; Count includes those above the last bound.
type Histogram struct {
	Bounds []time.Duration // bucket upper bounds, ascending; shared, do not modify
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Bucket bounds. Use times reach a day, since a leaked lease lives there;
// waits and opens are short or they are a problem.
var (
	WaitTimeBounds = []time.Duration{
		100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 2500 * time.Microsecond,
		5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
		2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	}
	UseTimeBounds = []time.Duration{
		500 * time.Microsecond, time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
		50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, time.Second,
		5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
		15 * time.Minute, time.Hour, 4 * time.Hour, 24 * time.Hour,
	}
	OpenTimeBounds = []time.Duration{
		time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
		25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
		500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	}
)

// histogram records durations with atomic counters, so observing never
// takes a lock and reading never blocks an acquire.
type histogram struct {
	bounds  []time.Duration
	buckets []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum     atomic.Int64
}

func newHistogram(bounds []time.Duration) *histogram {
	return &histogram{bounds: bounds, buckets: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	if d != 0 { // an acquire that did not wait: one atomic add less
		h.sum.Add(int64(d))
	}
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds)), Sum: time.Duration(h.sum.Load())}
	for i := range h.buckets {
		s.Count += h.buckets[i].Load()
		if i < len(s.Counts) {
			s.Counts[i] = s.Count
		}
	}
	return s
}

// merge adds o's observations to h's; both have the same bounds, or h is
// empty.
func (h Histogram) merge(o Histogram) Histogram {
	if h.Bounds == nil {
		h.Bounds, h.Counts = o.Bounds, make([]uint64, len(o.Counts))
	}
	for i := range o.Counts {
		h.Counts[i] += o.Counts[i]
	}
	h.Count += o.Count
	h.Sum += o.Sum
	return h
}
