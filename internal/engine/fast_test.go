package engine

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFastPathRaces runs workers whose leases start and end without the
// lock (one partition, nobody waiting) while others read the lease records,
// mark suspects, reset, pause, revoke and wait, so that every slow path
// meets the fast one. No two workers may ever hold one resource, each
// suspect marked is reported by the end of its lease exactly once, and
// once all is done no place, lease or suspect is lost.
func TestFastPathRaces(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const maxConns = 6
	e := newEngine(t, maxConns, pc("a", 0, maxConns, 64))
	var marked, reported atomic.Int64
	var workers, others sync.WaitGroup
	stop := make(chan struct{})
	end := func(s *testSlot, gen uint64, how How, reuse bool) {
		en := e.End(s, gen, how, reuse)
		if !en.Ended {
			return // taken back meanwhile
		}
		if en.Lease.Suspected {
			reported.Add(1)
		}
		if en.Action == Close || en.Action == Interrupt {
			e.Closed(s)
		}
	}
	for w := range 6 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			pcs := []uintptr{1, 2, 3}
			for range 3000 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(500))*time.Microsecond)
				g, r, _ := e.Acquire(ctx, 0, pcs)
				cancel()
				if r != ReasonNone {
					continue
				}
				s := g.Slot
				if s == nil {
					s = e.Opened(0, &fakeRes{}, time.Time{}, pcs)
				}
				gen := s.Gen()
				if n := s.Res.inUse.Add(1); n != 1 {
					t.Errorf("seed %d: %d holders of one resource", seed, n)
				}
				if rng.IntN(4) == 0 {
					time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
				}
				s.Res.inUse.Add(-1)
				end(s, gen, Release, rng.IntN(16) != 0)
			}
		}()
	}
	others.Add(1)
	go func() {
		defer others.Done()
		rng := rand.New(rand.NewPCG(seed, 99))
		for {
			select {
			case <-stop:
				e.SetPaused(0, false)
				return
			default:
			}
			ls := e.Leases()
			seen := make(map[*testSlot]bool, len(ls))
			for _, l := range ls {
				if seen[l.Slot] {
					t.Errorf("seed %d: Leases lists one slot twice", seed)
				}
				seen[l.Slot] = true
				if len(l.PCs) != 3 || l.Acquired.IsZero() {
					t.Errorf("seed %d: a lease record read while it was written: %+v", seed, l)
				}
				if rng.IntN(3) == 0 && e.MarkSuspected(l.Slot, l.Gen) {
					marked.Add(1)
				}
			}
			if st := e.Stats(); st.Total > maxConns || st.Parts[0].Held > maxConns {
				t.Errorf("seed %d: Total %d, Held %d above MaxConns", seed, st.Total, st.Parts[0].Held)
			}
			switch rng.IntN(20) {
			case 0:
				for _, s := range e.Reset() {
					e.Closed(s)
				}
			case 1:
				e.SetPaused(0, true)
				e.SetPaused(0, false)
			case 2:
				if len(ls) > 0 {
					l := ls[rng.IntN(len(ls))]
					end(l.Slot, l.Gen, Revoke, false)
				}
			}
			time.Sleep(time.Duration(rng.IntN(100)) * time.Microsecond)
		}
	}()
	workers.Wait()
	close(stop)
	others.Wait()
	t.Logf("%d suspects marked", marked.Load())
	if m, r := marked.Load(), reported.Load(); m != r {
		t.Errorf("seed %d: %d suspects marked, %d reported as their leases ended", seed, m, r)
	}
	st := e.Stats().Parts[0]
	if st.Held != 0 || st.Suspected != 0 || st.Waiting != 0 {
		t.Errorf("seed %d: after the run: held %d, suspected %d, waiting %d", seed, st.Held, st.Suspected, st.Waiting)
	}
	for _, s := range e.Close() {
		e.Closed(s)
	}
	if st := e.Stats(); st.Total != 0 {
		t.Errorf("seed %d: Total %d after Close", seed, st.Total)
	}
}

// TestCloseRacesFastPath closes the engine while workers acquire and
// release without the lock: every connection is closed once, by Close or
// by the release that came after it, and none is left behind.
func TestCloseRacesFastPath(t *testing.T) {
	for range 20 {
		e := newEngine(t, 4, pc("a", 0, 4, 16))
		var closes atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				for {
					g, r, _ := e.Acquire(context.Background(), 0, nil)
					if r != ReasonNone {
						return // closed
					}
					s := g.Slot
					if s == nil {
						s = e.Opened(0, &fakeRes{}, time.Time{}, nil)
					}
					if en := e.End(s, s.Gen(), Release, true); en.Action == Close {
						closes.Add(1)
						e.Closed(s)
					}
				}
			})
		}
		close(start)
		time.Sleep(time.Millisecond)
		for _, s := range e.Close() {
			closes.Add(1)
			e.Closed(s)
		}
		wg.Wait()
		if st := e.Stats(); st.Total != 0 || st.Parts[0].Idle != 0 || st.Parts[0].Held != 0 {
			t.Fatalf("after Close: Total %d, idle %d, held %d (%d closed)", st.Total, st.Parts[0].Idle, st.Parts[0].Held, closes.Load())
		}
	}
}

// TestWaiterMeetsRelease races a caller that must wait for the only
// connection with the release that frees it, again and again: whichever
// comes first, the caller is served at once, never left waiting beside an
// idle connection.
func TestWaiterMeetsRelease(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 4))
	s := take(t, e, 0)
	for i := range 5000 {
		got := make(chan *testSlot, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			g, r, _ := e.Acquire(ctx, 0, nil)
			if r != ReasonNone {
				t.Errorf("iteration %d: the caller was refused (%v) though the connection was released", i, r)
				got <- nil
				return
			}
			got <- fulfil(e, 0, g)
		}()
		put(t, e, s, true)
		if s = <-got; s == nil {
			return
		}
	}
	put(t, e, s, true)
}
