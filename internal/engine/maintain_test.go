package engine

import (
	"context"
	"slices"
	"testing"
	"time"
)

// idleSlots puts n slots of part in its idle list, the first released
// first.
func idleSlots(t *testing.T, e *Engine[*fakeRes], part, n int) []*testSlot {
	t.Helper()
	var ss []*testSlot
	for range n {
		ss = append(ss, take(t, e, part))
	}
	for _, s := range ss {
		put(t, e, s, true)
	}
	return ss
}

func closeAll(e *Engine[*fakeRes], ss []*testSlot) {
	for _, s := range ss {
		e.Closed(s)
	}
}

func TestMaintainExpiry(t *testing.T) {
	e := newEngine(t, 3, pc("a", 0, 3, 0))
	live := take(t, e, 0)
	old := takeNew(t, e, 0, time.Now().Add(time.Minute))
	never := takeNew(t, e, 0, time.Time{})
	for _, s := range []*testSlot{live, old, never} {
		put(t, e, s, true)
	}
	u := e.Maintain(time.Now().Add(2*time.Minute), 0, conns(3))
	// Closing resources still count under MaxConns: no open is planned yet.
	if len(u.Close) != 1 || u.Close[0] != old || len(u.Open) != 0 {
		t.Fatalf("Maintain = %+v, want the expired slot closed even below the minimum", u)
	}
	checkStats(t, e, 3, []int{0}, []int{2})
	closeAll(e, u.Close)
	checkStats(t, e, 2, []int{0}, []int{2})
	if u = e.Maintain(time.Now(), 0, conns(3)); len(u.Close) != 0 || len(u.Open) != 1 {
		t.Fatalf("Maintain = %+v, want one open to replace the expired slot", u)
	}
	e.OpenIdleFailed(0)
	checkStats(t, e, 2, []int{0}, []int{2})
}

func TestMaintainIdleTimeoutKeepsMinimum(t *testing.T) {
	e := newEngine(t, 6, pc("a", 0, 6, 0), pc("b", 0, 6, 0))
	held := take(t, e, 0)
	ss := idleSlots(t, e, 0, 4)
	idleSlots(t, e, 1, 1)
	later := time.Now().Add(time.Hour)

	// Within the timeout nothing closes.
	if u := e.Maintain(later, 2*time.Hour, conns(0, 0)); len(u.Close)+len(u.Open) != 0 {
		t.Fatalf("Maintain within the timeout: %+v", u)
	}
	// a keeps 3 resources counting the held one: the two oldest idle go.
	u := e.Maintain(later, time.Minute, conns(3, 1))
	if len(u.Close) != 2 || u.Close[0] != ss[0] || u.Close[1] != ss[1] || len(u.Open) != 0 {
		t.Fatalf("Maintain = %+v, want the two oldest idle slots of a", u)
	}
	checkStats(t, e, 6, []int{1, 0}, []int{2, 1})
	closeAll(e, u.Close)
	// The survivors are the most recently used, still leased LIFO.
	if s := take(t, e, 0); s != ss[3] {
		t.Error("the warmest idle slot was not leased first")
	} else {
		put(t, e, s, true)
	}
	// No timeout: nothing stale; b's minimum is kept.
	if u := e.Maintain(later, 0, conns(0, 1)); len(u.Close) != 0 {
		t.Fatalf("Maintain without timeout closed %d", len(u.Close))
	}
	u = e.Maintain(later, time.Minute, conns(0, 0))
	if len(u.Close) != 3 {
		t.Fatalf("Maintain with no minimum closed %d of 3 idle", len(u.Close))
	}
	closeAll(e, u.Close)
	put(t, e, held, false)
	checkStats(t, e, 0, []int{0, 0}, []int{0, 0})
}

func TestMaintainPlansOpens(t *testing.T) {
	e := newEngine(t, 4, pc("a", 0, 4, 0), pc("b", 0, 4, 0))
	s := take(t, e, 0)
	u := e.Maintain(time.Now(), 0, conns(3, 3))
	// a has 1 and needs 2 more; b gets what is left under MaxConns.
	if len(u.Open) != 3 || u.Open[0] != 0 || u.Open[1] != 0 || u.Open[2] != 1 {
		t.Fatalf("Open = %v, want [0 0 1]", u.Open)
	}
	checkStats(t, e, 4, []int{1, 0}, []int{0, 0})
	refused(t, e, pastCtx(t), 1, ReasonQueueFull) // every place is taken by opens
	for i, part := range u.Open {
		if i == 2 {
			e.OpenIdleFailed(part)
		} else if e.OpenedIdle(part, &fakeRes{id: i}, time.Time{}) != nil {
			t.Fatal("OpenedIdle on an open engine handed its resource back")
		}
	}
	checkStats(t, e, 3, []int{1, 0}, []int{2, 0})
	if st := e.Stats().Parts[1]; st.OpenFails != 1 {
		t.Errorf("failed open not counted: %+v", st)
	}
	// The opened resources are idle, leased with a fresh generation.
	s2 := take(t, e, 0)
	if s2.Gen() != 1 || s2.Enter(1) != EnterOK || s2.Exit(1) {
		t.Errorf("an opened slot leased with generation %d", s2.Gen())
	}
	put(t, e, s2, true)
	put(t, e, s, true)
}

func TestOpenedAfterClose(t *testing.T) {
	e := newEngine(t, 2, pc("a", 0, 2, 0))
	u := e.Maintain(time.Now(), 0, conns(2))
	if len(u.Open) != 2 {
		t.Fatalf("Open = %v", u.Open)
	}
	if idle := e.Close(); len(idle) != 0 {
		t.Fatalf("Close returned %d idle slots", len(idle))
	}
	s := e.OpenedIdle(0, &fakeRes{}, time.Time{})
	if s == nil {
		t.Fatal("OpenedIdle after Close kept the resource")
	}
	e.Closed(s) // the caller closes the resource it opened
	e.OpenIdleFailed(0)
	checkStats(t, e, 0, []int{0}, []int{0})
	if e.Stats().Parts[0].Opens != 0 {
		t.Error("an open refused after Close was counted as opened")
	}
}

func TestOpenedServesWaiter(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 0), pc("b", 0, 1, 5))
	u := e.Maintain(time.Now(), 0, conns(1, 0))
	if len(u.Open) != 1 {
		t.Fatalf("Open = %v", u.Open)
	}
	w := enqueue(t, e, context.Background(), 1)
	e.OpenedIdle(0, &fakeRes{}, time.Time{})
	o := recv(t, w)
	if o.r != ReasonNone || o.g.Evict == nil {
		t.Fatalf("waiter got %+v, want to evict the opened idle slot", o)
	}
	put(t, e, fulfil(e, 1, o.g), true)
	checkStats(t, e, 1, []int{0, 0}, []int{0, 1})
}

// TestFailedOpenServesWaiter checks that the place of a planned open that
// failed goes to a caller waiting for one.
func TestFailedOpenServesWaiter(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 0), pc("b", 0, 1, 5))
	if u := e.Maintain(time.Now(), 0, conns(1, 0)); len(u.Open) != 1 {
		t.Fatalf("Open = %v", u.Open)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := enqueue(t, e, ctx, 1)
	e.OpenIdleFailed(0)
	if n := e.Stats().Parts[1].Waiting; n != 0 {
		t.Fatalf("%d callers still wait after the failed open gave its place back", n)
	}
	put(t, e, served(t, e, w, 1), true)
	checkStats(t, e, 1, []int{0, 0}, []int{0, 1})
}

// TestMaintainCountsOpensInFlight checks that opens planned by one Maintain
// and not done yet count toward the minimum at the next Maintain.
func TestMaintainCountsOpensInFlight(t *testing.T) {
	e := newEngine(t, 5, pc("a", 0, 5, 0))
	u := e.Maintain(time.Now(), 0, conns(2))
	if len(u.Open) != 2 {
		t.Fatalf("Open = %v, want 2 opens", u.Open)
	}
	if again := e.Maintain(time.Now(), 0, conns(2)); len(again.Open) != 0 {
		t.Fatalf("a second Maintain planned %d more opens while 2 are in flight", len(again.Open))
	}
	e.OpenedIdle(0, &fakeRes{}, time.Time{})
	e.OpenIdleFailed(0)
	if again := e.Maintain(time.Now(), 0, conns(2)); len(again.Open) != 1 {
		t.Fatalf("after one open failed, Maintain planned %v, want one open", again.Open)
	}
	e.OpenedIdle(0, &fakeRes{}, time.Time{})
	checkStats(t, e, 2, []int{0}, []int{2})
}

// TestReset checks that Reset hands back the idle slots and has the leased
// ones closed when their leases end, while newer slots are reused.
func TestReset(t *testing.T) {
	e := newEngine(t, 3, pc("a", 0, 3, 0))
	held := take(t, e, 0)
	idle := idleSlots(t, e, 0, 2)
	got := e.Reset()
	if len(got) != 2 || !slices.Contains(got, idle[0]) || !slices.Contains(got, idle[1]) {
		t.Fatalf("Reset returned %d slots, want the 2 idle ones", len(got))
	}
	closeAll(e, got)
	if put(t, e, held, true) {
		t.Error("a slot leased before Reset was kept")
	}
	fresh := take(t, e, 0)
	if !put(t, e, fresh, true) {
		t.Error("a slot opened after Reset was not kept")
	}
	if st := e.Stats().Parts[0]; st.Closes != 3 || st.Idle != 1 {
		t.Errorf("after Reset: %d closes, %d idle; want 3 and 1", st.Closes, st.Idle)
	}
}

// TestTakeIdle checks that TakeIdle leases the idle slots the partition may
// hold, and none while callers wait.
func TestTakeIdle(t *testing.T) {
	e := newEngine(t, 4, pc("a", 0, 2, 5), pc("b", 0, 4, 0))
	idleSlots(t, e, 0, 2)
	idleSlots(t, e, 1, 1)
	got := e.TakeIdle(0, nil)
	if len(got) != 2 || got[0].Part() != 0 || got[1].Part() != 0 {
		t.Fatalf("TakeIdle leased %d slots, want partition a's 2", len(got))
	}
	checkStats(t, e, 3, []int{2, 0}, []int{0, 1})
	w := enqueue(t, e, context.Background(), 0)
	put(t, e, got[0], true)
	s := served(t, e, w, 0)
	w = enqueue(t, e, context.Background(), 0)
	if more := e.TakeIdle(0, nil); len(more) != 0 {
		t.Fatalf("TakeIdle took %d slots with a caller waiting", len(more))
	}
	put(t, e, got[1], true)
	put(t, e, served(t, e, w, 0), true)
	put(t, e, s, true)
}
