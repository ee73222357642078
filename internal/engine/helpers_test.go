package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poolguard/poolguard/internal/wait"
)

// fakeRes stands for a physical connection.
type fakeRes struct {
	id    int
	inUse atomic.Int32 // holders of a lease on it, as counted by the test
}

type testSlot = Slot[*fakeRes]

func pc(name string, guaranteed, max, maxWaiting int) PartConfig {
	return PartConfig{Name: name, Guaranteed: guaranteed, Max: max, MaxWaiting: maxWaiting}
}

func newEngine(t testing.TB, maxConns int, parts ...PartConfig) *Engine[*fakeRes] {
	t.Helper()
	e, err := New[*fakeRes](Config{MaxConns: maxConns, Parts: parts})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// pastCtx has a deadline that has already passed, so Acquire never waits
// with it: it grants at once or refuses.
func pastCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	t.Cleanup(cancel)
	return ctx
}

// fulfil turns a grant into a leased slot, opening a resource when the
// grant carries none. An evicted slot's place passes to the new resource.
func fulfil(e *Engine[*fakeRes], part int, g Grant[*fakeRes]) *testSlot {
	if g.Slot != nil {
		return g.Slot
	}
	return e.Opened(part, &fakeRes{}, time.Time{}, nil)
}

// take acquires a slot for part without waiting, and fails the test if it
// cannot.
func take(t testing.TB, e *Engine[*fakeRes], part int) *testSlot {
	t.Helper()
	g, r, _ := e.Acquire(pastCtx(t), part, nil)
	if r != ReasonNone {
		t.Fatalf("acquire on partition %d refused: %v", part, r)
	}
	return fulfil(e, part, g)
}

// refused checks that an acquire on part is refused at once with want.
func refused(t testing.TB, e *Engine[*fakeRes], ctx context.Context, part int, want Reason) {
	t.Helper()
	g, r, waited := e.Acquire(ctx, part, nil)
	if r != want || g.Slot != nil || g.Evict != nil {
		t.Fatalf("acquire on partition %d: got reason %q grant %+v, want %q", part, r, g, want)
	}
	if waited != 0 {
		t.Fatalf("acquire on partition %d waited %v before refusing", part, waited)
	}
}

// put ends the lease of s and releases it, closing the resource if the
// engine does not keep it. It reports whether the slot was kept.
func put(t testing.TB, e *Engine[*fakeRes], s *testSlot, reuse bool) bool {
	t.Helper()
	en := e.End(s, s.Gen(), Release, reuse)
	if !en.Ended || en.Taken || en.Action == Interrupt {
		t.Fatalf("End(Release) on a held slot = %+v", en)
	}
	if en.Action == Close {
		e.Closed(s)
	}
	return en.Action == Keep
}

type outcome struct {
	g Grant[*fakeRes]
	r Reason
}

// acquireAsync runs Acquire in a goroutine and delivers its outcome.
func acquireAsync(e *Engine[*fakeRes], ctx context.Context, part int) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		g, r, _ := e.Acquire(ctx, part, nil)
		ch <- outcome{g, r}
	}()
	return ch
}

const patience = 10 * time.Second // generous bound for anything to happen

func recv(t testing.TB, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(patience):
		t.Fatalf("no outcome after %v", patience)
		return outcome{}
	}
}

// notYet checks that ch has delivered nothing so far.
func notYet(t testing.TB, ch <-chan outcome, what string) {
	t.Helper()
	select {
	case o := <-ch:
		t.Fatalf("%s: got %+v before its turn", what, o)
	default:
	}
}

// waitWaiting waits until n callers wait in partition part's queue.
func waitWaiting(t testing.TB, e *Engine[*fakeRes], part, n int) {
	t.Helper()
	wait.Until(t, "the queue has the expected length", func() bool {
		return e.Stats().Parts[part].Waiting == n
	})
}

// enqueue starts a waiter on part and returns once it is queued, so
// waiters enqueued one after another arrive in that order.
func enqueue(t testing.TB, e *Engine[*fakeRes], ctx context.Context, part int) <-chan outcome {
	t.Helper()
	n := e.Stats().Parts[part].Waiting
	ch := acquireAsync(e, ctx, part)
	waitWaiting(t, e, part, n+1)
	return ch
}

// served checks that ch received a grant, and returns the leased slot.
func served(t testing.TB, e *Engine[*fakeRes], ch <-chan outcome, part int) *testSlot {
	t.Helper()
	o := recv(t, ch)
	if o.r != ReasonNone {
		t.Fatalf("waiter on partition %d refused: %v", part, o.r)
	}
	return fulfil(e, part, o.g)
}

// checkStats compares the engine's totals with expected values; a
// negative expectation is not checked.
func checkStats(t testing.TB, e *Engine[*fakeRes], total int, held, idle []int) {
	t.Helper()
	st := e.Stats()
	if total >= 0 && st.Total != total {
		t.Errorf("Total = %d, want %d", st.Total, total)
	}
	for i, ps := range st.Parts {
		if held != nil && ps.Held != held[i] {
			t.Errorf("partition %d Held = %d, want %d", i, ps.Held, held[i])
		}
		if idle != nil && ps.Idle != idle[i] {
			t.Errorf("partition %d Idle = %d, want %d", i, ps.Idle, idle[i])
		}
	}
}

// manualCtx is a context without a deadline that the test ends by hand,
// with the error of its choice, so that a waiter can time out at a moment
// the test controls.
type manualCtx struct {
	context.Context
	done chan struct{}
	err  error
}

func newManualCtx(err error) *manualCtx {
	return &manualCtx{Context: context.Background(), done: make(chan struct{}), err: err}
}

func (c *manualCtx) Done() <-chan struct{} { return c.done }

func (c *manualCtx) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *manualCtx) end() { close(c.done) }

// takeNew acquires for part a grant to open a resource, and opens one that
// expires at expires.
func takeNew(t testing.TB, e *Engine[*fakeRes], part int, expires time.Time) *testSlot {
	t.Helper()
	g, r, _ := e.Acquire(pastCtx(t), part, nil)
	if r != ReasonNone || g.Slot != nil {
		t.Fatalf("want a grant to open a resource, got %+v %v", g, r)
	}
	return e.Opened(part, &fakeRes{}, expires, nil)
}

// conns returns minimums of n resources for each partition, with no idle
// minimum.
func conns(n ...int) []Minimum {
	ms := make([]Minimum, len(n))
	for i, x := range n {
		ms[i].Conns = x
	}
	return ms
}
