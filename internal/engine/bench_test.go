package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

// These benchmarks show how the engine's costs grow with the pool: the
// number of partitions, of leases held and of callers waiting. Run them
// with
//
//	go test -run '^$' -bench . -benchmem ./internal/engine

// BenchmarkAcquireRelease is one uncontended acquire and release of an
// idle slot, with one partition or many.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, parts := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			e, ps := benchEngine(b, parts, 100)
			p := ps / 2 // a partition in the middle
			s := take(b, e, p)
			put(b, e, s, true)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				g, _, _ := e.Acquire(ctx, p, nil)
				e.End(g.Slot, g.Slot.Gen(), Release, true)
			}
		})
	}
}

// BenchmarkAcquireReleaseParallel is BenchmarkAcquireRelease with four
// goroutines per CPU sharing 16 slots of one partition, each recording a
// stack of 8 frames: the fast path under contention, never waiting.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	e, _ := benchEngine(b, 1, 16)
	var slots []*testSlot
	for range 16 {
		slots = append(slots, take(b, e, 0))
	}
	for _, s := range slots {
		put(b, e, s, true)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		pcs := make([]uintptr, 8)
		for pb.Next() {
			g, _, _ := e.Acquire(ctx, 0, pcs)
			e.End(g.Slot, g.Slot.Gen(), Release, true)
		}
	})
}

// BenchmarkWithLeasesHeld measures, with n leases held, the cost of Stats
// (constant), of Leases (linear: it copies every record), and of an
// acquire and release while another goroutine reads Leases without pause,
// as an admin page or a collector would.
func BenchmarkWithLeasesHeld(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		e, _ := benchEngine(b, 1, n+1)
		for range n {
			take(b, e, 0)
		}
		put(b, e, take(b, e, 0), true)
		b.Run(fmt.Sprintf("op=Stats/leases=%d", n), func(b *testing.B) {
			for b.Loop() {
				e.Stats()
			}
		})
		b.Run(fmt.Sprintf("op=Leases/leases=%d", n), func(b *testing.B) {
			for b.Loop() {
				e.Leases()
			}
		})
		b.Run(fmt.Sprintf("op=AcquireRelease+Stats/leases=%d", n), func(b *testing.B) {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
						e.Stats()
					}
				}
			})
			ctx := context.Background()
			for b.Loop() {
				g, _, _ := e.Acquire(ctx, 0, nil)
				e.End(g.Slot, g.Slot.Gen(), Release, true)
			}
			close(stop)
			wg.Wait()
		})
	}
}

// BenchmarkCancelInQueue measures a waiter leaving the middle of a queue of
// n waiters, which is constant whatever n.
func BenchmarkCancelInQueue(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("waiters=%d", n), func(b *testing.B) {
			e, _ := benchEngine(b, 1, 1)
			held := take(b, e, 0)
			var cancels []context.CancelFunc
			var chans []<-chan outcome
			for range n {
				ctx, cancel := context.WithCancel(context.Background())
				cancels = append(cancels, cancel)
				chans = append(chans, enqueue(b, e, ctx, 0))
			}
			p := e.parts[0]
			w := p.queue.head
			for range n / 2 {
				w = w.next // a waiter in the middle
			}
			for b.Loop() {
				e.mu.Lock()
				p.queue.remove(w)
				p.queue.push(w)
				e.mu.Unlock()
			}
			for i, cancel := range cancels {
				cancel()
				<-chans[i]
			}
			put(b, e, held, true)
		})
	}
}

// BenchmarkMemory reports the engine's memory per connection and per
// waiting caller: a slot holds the lease record, so a lease costs nothing
// more than its connection's slot, plus the caller's handle.
func BenchmarkMemory(b *testing.B) {
	for b.Loop() {
	}
	b.ReportMetric(float64(unsafe.Sizeof(Slot[*fakeRes]{})), "B/slot")
	b.ReportMetric(float64(unsafe.Sizeof(waiter[*fakeRes]{})), "B/waiter")
}

// benchEngine returns an engine of parts partitions sharing maxConns.
func benchEngine(b *testing.B, parts, maxConns int) (*Engine[*fakeRes], int) {
	b.Helper()
	cfg := Config{MaxConns: maxConns}
	for i := range parts {
		cfg.Parts = append(cfg.Parts, PartConfig{Name: fmt.Sprint("p", i), Max: maxConns, MaxWaiting: 1 << 20})
	}
	e, err := New[*fakeRes](cfg)
	if err != nil {
		b.Fatal(err)
	}
	return e, parts
}
