package engine

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestFIFOWithinPartition(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 10))
	s := take(t, e, 0)
	var chs []<-chan outcome
	for range 6 {
		chs = append(chs, enqueue(t, e, context.Background(), 0))
	}
	for i, ch := range chs {
		put(t, e, s, true)
		s = served(t, e, ch, 0)
		waitWaiting(t, e, 0, len(chs)-1-i)
		for j := i + 1; j < len(chs); j++ {
			notYet(t, chs[j], "later waiter")
		}
	}
	put(t, e, s, true)
	st := e.Stats().Parts[0]
	if st.Waits != int64(len(chs)) || st.Acquires != int64(len(chs)+1) {
		t.Errorf("Waits %d Acquires %d, want %d and %d", st.Waits, st.Acquires, len(chs), len(chs)+1)
	}
}

func TestOwnerFirstHandoff(t *testing.T) {
	e := newEngine(t, 2, pc("a", 0, 2, 5), pc("b", 0, 2, 5))
	sa, sb := take(t, e, 0), take(t, e, 1)
	wb := enqueue(t, e, context.Background(), 1) // arrived first
	wa := enqueue(t, e, context.Background(), 0)

	put(t, e, sa, true)
	if got := served(t, e, wa, 0); got != sa {
		t.Errorf("the owner's waiter got another slot than the one released")
	}
	notYet(t, wb, "other partition's waiter")
	put(t, e, sb, true)
	served(t, e, wb, 1)
	checkStats(t, e, 2, []int{1, 1}, []int{0, 0})
}

func TestCrossPartitionOrder(t *testing.T) {
	// A slot that closes frees a place, which goes to the partition whose
	// head waited longest, not to the partition that gave it back.
	e := newEngine(t, 1, pc("a", 0, 1, 5), pc("b", 0, 1, 5), pc("c", 0, 1, 5))
	s := take(t, e, 0)
	order := []int{1, 2, 0}
	chs := make([]<-chan outcome, len(order))
	for i, p := range order {
		chs[i] = enqueue(t, e, context.Background(), p)
	}
	for i, p := range order {
		if put(t, e, s, false) {
			t.Fatal("a slot released without reuse was kept")
		}
		s = served(t, e, chs[i], p)
		for _, later := range chs[i+1:] {
			notYet(t, later, "later waiter")
		}
	}
	put(t, e, s, true)
	checkStats(t, e, 1, []int{0, 0, 0}, []int{1, 0, 0})
}

func TestMaxedPartitionCannotTakeGuarantee(t *testing.T) {
	e := newEngine(t, 3, pc("a", 0, 3, 0), pc("b", 1, 1, 0))
	a1, a2 := take(t, e, 0), take(t, e, 0)
	refused(t, e, context.Background(), 0, ReasonQueueFull) // would take b's guarantee
	// With a's slots idle, b still gets its place without waiting, by
	// eviction if need be.
	put(t, e, a1, true)
	b := take(t, e, 1)
	refused(t, e, context.Background(), 1, ReasonQueueFull) // b is at its Max
	put(t, e, a2, true)
	put(t, e, b, true)
	checkStats(t, e, 3, []int{0, 0}, []int{2, 1})
}

func TestEvictWhenFull(t *testing.T) {
	e := newEngine(t, 2, pc("a", 0, 2, 0), pc("b", 0, 2, 0))
	older, newer := take(t, e, 0), take(t, e, 0)
	put(t, e, older, true)
	put(t, e, newer, true)
	g, r, _ := e.Acquire(pastCtx(t), 1, nil)
	if r != ReasonNone || g.Slot != nil || g.Evict != older {
		t.Fatalf("grant %+v reason %v: want the least recently used idle slot of a to evict", g, r)
	}
	e.mu.Lock()
	registered := slices.Contains(slices.Collect(e.live()), older)
	e.mu.Unlock()
	if registered {
		t.Error("the evicted slot is still registered")
	}
	checkStats(t, e, 2, []int{0, 1}, []int{1, 0})
	b := fulfil(e, 1, g) // no Closed for the evicted slot: its place passed on
	checkStats(t, e, 2, []int{0, 1}, []int{1, 0})
	put(t, e, b, false)
	checkStats(t, e, 1, []int{0, 0}, []int{1, 0})
}

func TestDeadlineRefusal(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 5))
	s := take(t, e, 0)

	// A deadline that has passed is refused without queueing.
	refused(t, e, pastCtx(t), 0, ReasonDeadline)

	// An estimate refuses a deadline that cannot be met, once enough
	// holds were observed, and not before.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	e.parts[0].holdAvg.Store(int64(24 * time.Hour))
	e.parts[0].holdCount.Store(minHoldSamples - 1)
	wctx, wcancel := context.WithCancel(ctx)
	w := enqueue(t, e, wctx, 0) // a cold estimate does not refuse
	wcancel()
	if o := recv(t, w); o.r != ReasonCanceled {
		t.Fatalf("canceled waiter: reason %v", o.r)
	}
	e.parts[0].holdCount.Store(minHoldSamples)
	refused(t, e, ctx, 0, ReasonDeadline)
	// Without a deadline there is nothing to refuse on.
	wctx, wcancel = context.WithCancel(context.Background())
	w = enqueue(t, e, wctx, 0)
	wcancel()
	recv(t, w)

	// A grant available at once is given whatever the deadline.
	put(t, e, s, true)
	put(t, e, take(t, e, 0), true)
	if got := e.Stats().Parts[0].Rejected(ReasonDeadline); got != 2 {
		t.Errorf("deadline refusals counted: %d, want 2", got)
	}
}

func TestHoldSamplesFeedEstimate(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 5))
	for range minHoldSamples {
		put(t, e, take(t, e, 0), true)
	}
	if n := e.parts[0].holdCount.Load(); n != minHoldSamples {
		t.Fatalf("holdCount %d after %d releases", n, minHoldSamples)
	}
}

func TestWaitersLeaveOnContextEnd(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 5))
	s := take(t, e, 0)
	first := enqueue(t, e, context.Background(), 0)
	cctx, cancel := context.WithCancel(context.Background())
	canceled := enqueue(t, e, cctx, 0)
	tctx := newManualCtx(context.DeadlineExceeded)
	timedOut := enqueue(t, e, tctx, 0)
	last := enqueue(t, e, context.Background(), 0)

	cancel()
	tctx.end()
	if o := recv(t, canceled); o.r != ReasonCanceled {
		t.Errorf("canceled waiter: reason %v", o.r)
	}
	if o := recv(t, timedOut); o.r != ReasonTimeout {
		t.Errorf("timed out waiter: reason %v", o.r)
	}
	waitWaiting(t, e, 0, 2)
	put(t, e, s, true)
	s = served(t, e, first, 0)
	notYet(t, last, "last waiter")
	put(t, e, s, true)
	put(t, e, served(t, e, last, 0), true)
	st := e.Stats().Parts[0]
	if st.Rejected(ReasonCanceled) != 1 || st.Rejected(ReasonTimeout) != 1 || st.Waiting != 0 {
		t.Errorf("stats after leaving: %+v", st)
	}
}

func TestQueueFull(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 1))
	s := take(t, e, 0)
	w := enqueue(t, e, context.Background(), 0)
	refused(t, e, context.Background(), 0, ReasonQueueFull)
	put(t, e, s, true)
	put(t, e, served(t, e, w, 0), true)
}

func TestPause(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 5), pc("b", 0, 1, 5))
	s := take(t, e, 0)
	ws := []<-chan outcome{enqueue(t, e, context.Background(), 0), enqueue(t, e, context.Background(), 0)}
	other := enqueue(t, e, context.Background(), 1)
	e.SetPaused(0, true)
	for _, w := range ws {
		if o := recv(t, w); o.r != ReasonPaused {
			t.Errorf("waiter of a paused partition: reason %v", o.r)
		}
	}
	if !e.Paused(0) || e.Paused(1) || !e.Stats().Parts[0].Paused {
		t.Error("Paused does not report the pause")
	}
	refused(t, e, context.Background(), 0, ReasonPaused)
	waitWaiting(t, e, 1, 1) // the other partition still waits
	put(t, e, s, false)
	put(t, e, served(t, e, other, 1), true)
	e.SetPaused(0, false)
	put(t, e, take(t, e, 0), true)
	if got := e.Stats().Parts[0].Rejected(ReasonPaused); got != 3 {
		t.Errorf("paused refusals: %d, want 3", got)
	}
}

func TestClose(t *testing.T) {
	e := newEngine(t, 3, pc("a", 0, 3, 5), pc("b", 0, 1, 5))
	held := take(t, e, 0)
	idle := []*testSlot{take(t, e, 0), take(t, e, 1)}
	for _, s := range idle {
		put(t, e, s, true)
	}
	idle[1] = take(t, e, 1)
	w := enqueue(t, e, context.Background(), 1)
	put(t, e, idle[1], true)
	idle[1] = served(t, e, w, 1)
	w = enqueue(t, e, context.Background(), 1)

	got := e.Close()
	if o := recv(t, w); o.r != ReasonClosed {
		t.Errorf("waiter at Close: reason %v", o.r)
	}
	if len(got) != 1 || got[0] != idle[0] {
		t.Fatalf("Close returned %d idle slots, want the one idle slot", len(got))
	}
	for _, s := range got {
		e.Closed(s)
	}
	refused(t, e, context.Background(), 0, ReasonClosed)
	e.SetPaused(1, true)
	refused(t, e, context.Background(), 1, ReasonClosed) // closed wins over paused
	if put(t, e, held, true) || put(t, e, idle[1], true) {
		t.Error("a slot released after Close was kept")
	}
	if u := e.Maintain(time.Now(), time.Nanosecond, conns(3, 3)); len(u.Close)+len(u.Open) != 0 {
		t.Errorf("Maintain after Close: %+v", u)
	}
	checkStats(t, e, 0, []int{0, 0}, []int{0, 0})
	if st := e.Stats().Parts[1]; st.Waiting != 0 || st.Rejected(ReasonClosed) != 2 {
		t.Errorf("partition b after Close: %+v", st)
	}
}

func TestOpenFailedServesNext(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 5), pc("b", 0, 1, 5))
	g, r, _ := e.Acquire(pastCtx(t), 0, nil)
	if r != ReasonNone || g.Slot != nil {
		t.Fatalf("first acquire: %+v %v", g, r)
	}
	w := enqueue(t, e, context.Background(), 1)
	e.OpenFailed(0)
	s := served(t, e, w, 1)
	checkStats(t, e, 1, []int{0, 1}, []int{0, 0})
	put(t, e, s, false)
	checkStats(t, e, 0, []int{0, 0}, []int{0, 0})
	if st := e.Stats().Parts[0]; st.OpenFails != 1 || st.Opens != 0 {
		t.Errorf("partition a: %+v", st)
	}
}

func TestOpenFailedAfterEvict(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 0), pc("b", 0, 1, 0))
	put(t, e, take(t, e, 0), true)
	g, r, _ := e.Acquire(pastCtx(t), 1, nil)
	if r != ReasonNone || g.Evict == nil {
		t.Fatalf("want an eviction grant, got %+v %v", g, r)
	}
	e.OpenFailed(1) // the evicted resource was closed, the new one never opened
	checkStats(t, e, 0, []int{0, 0}, []int{0, 0})
	put(t, e, take(t, e, 0), true)
}

func TestReleaseExpired(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 0))
	s := takeNew(t, e, 0, time.Now().Add(-time.Second))
	if put(t, e, s, true) {
		t.Error("an expired slot was kept")
	}
	checkStats(t, e, 0, []int{0}, []int{0})
}

func TestRevoke(t *testing.T) {
	e := newEngine(t, 1, pc("a", 1, 1, 5))
	s := take(t, e, 0)
	gen := s.Gen()
	w := enqueue(t, e, context.Background(), 0)
	en := e.End(s, gen, Revoke, true)
	if !en.Ended || !en.Taken || en.Action != Close || en.Lease.Slot != s || en.Lease.Gen != gen || en.Lease.Part != 0 {
		t.Fatalf("End(Revoke) = %+v", en)
	}
	if again := e.End(s, gen, Revoke, true); again.Ended {
		t.Error("a lease was revoked twice")
	}
	checkStats(t, e, 1, []int{0}, []int{0}) // still counted until closed
	notYet(t, w, "waiter before the revoked resource closed")
	e.Closed(s)
	s2 := served(t, e, w, 0)
	if s2 == s {
		t.Error("a revoked slot was leased again")
	}
	if s.Enter(gen) != EnterRevoked {
		t.Error("the revoked handle may still enter")
	}
	e.Closed(s) // told twice: changes nothing
	checkStats(t, e, 1, []int{1}, []int{0})
	put(t, e, s2, true)
}

// TestRevokeInFlight checks that revoking a lease with a call in flight
// asks for an interrupt and lets the holder's Exit finish.
func TestRevokeInFlight(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 0))
	s := take(t, e, 0)
	gen := s.Gen()
	if s.Enter(gen) != EnterOK {
		t.Fatal("Enter failed")
	}
	en := e.End(s, gen, Revoke, true)
	if !en.Ended || en.Action != Interrupt || !s.Busy(gen) {
		t.Fatalf("End(Revoke) of a busy lease = %+v", en)
	}
	if s.Enter(gen) != EnterRevoked || !s.Exit(gen) || s.Exit(gen) {
		t.Fatal("the revoked call's Exit must finish once")
	}
	e.Closed(s)
	checkStats(t, e, 0, []int{0}, []int{0})
}

func TestLeasesAndSuspects(t *testing.T) {
	e := newEngine(t, 2, pc("a", 0, 2, 0))
	pcs := []uintptr{1, 2, 3}
	if g, _, _ := e.Acquire(pastCtx(t), 0, pcs); g.Slot != nil {
		t.Fatal("a fresh engine granted a slot")
	}
	s := e.Opened(0, &fakeRes{id: 7}, time.Time{}, pcs)
	ls := e.Leases()
	if len(ls) != 1 || ls[0].Slot != s || len(ls[0].PCs) != 3 || ls[0].Busy || ls[0].Suspected {
		t.Fatalf("Leases = %+v", ls)
	}
	if e.Stats().Parts[0].OldestAcquired.IsZero() {
		t.Error("OldestAcquired is zero with a lease held")
	}
	if !e.MarkSuspected(s, s.Gen()) || e.MarkSuspected(s, s.Gen()) || e.MarkSuspected(s, s.Gen()-1) {
		t.Error("MarkSuspected must flag the current lease once")
	}
	if en := e.End(s, s.Gen(), Release, true); en.Action != Keep || !en.Lease.Suspected || len(en.Lease.PCs) != 3 {
		t.Errorf("releasing a suspect: %+v, want it kept, with its record", en)
	}
	if len(e.Leases()) != 0 || e.MarkSuspected(s, s.Gen()) {
		t.Error("a released slot is still a lease")
	}
	s = take(t, e, 0)
	if ls := e.Leases(); len(ls) != 1 || ls[0].Suspected {
		t.Errorf("the next lease inherited the suspicion: %+v", ls)
	}
	put(t, e, s, true)
}

// The oldest lease is known without linking leases to each other: when it
// ends, Stats finds the next oldest among the slots; Leases lists them
// oldest first.
func TestOldestLease(t *testing.T) {
	e := newEngine(t, 4, pc("a", 0, 4, 0))
	var ss []*testSlot
	for range 4 {
		ss = append(ss, take(t, e, 0))
		time.Sleep(time.Millisecond) // distinct acquire times
	}
	check := func(want *testSlot) {
		t.Helper()
		got := e.Stats().Parts[0].OldestAcquired
		if want == nil && !got.IsZero() || want != nil && !got.Equal(want.acquired.time()) {
			t.Errorf("OldestAcquired %v, want that of slot %p", got, want)
		}
	}
	check(ss[0])
	put(t, e, ss[0], true)
	check(ss[1])
	put(t, e, ss[2], true)
	check(ss[1])
	s4 := take(t, e, 0)
	check(ss[1])
	put(t, e, ss[1], true)
	check(ss[3])
	if ls := e.Leases(); len(ls) != 2 || ls[0].Slot != ss[3] || ls[1].Slot != s4 {
		t.Errorf("Leases = %+v, want slots %p then %p", ls, ss[3], s4)
	}
	put(t, e, ss[3], true)
	check(s4)
	put(t, e, s4, true)
	check(nil)
}
