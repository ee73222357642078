package engine

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slotIn returns a slot whose lease word is generation gen in state st.
func slotIn(gen, st uint64) *testSlot {
	s := &testSlot{}
	s.word.v.Store(pack(gen, st))
	return s
}

var stateNames = map[uint64]string{stHeld: "held", stBusy: "busy", stRevoking: "revoking", stFree: "free", stRevoked: "revoked"}

// leaseOps are the operations on a lease word, as seen by a handle of gen.
var leaseOps = map[string]func(s *testSlot, gen uint64) any{
	"Enter":   func(s *testSlot, gen uint64) any { return s.Enter(gen) },
	"Exit":    func(s *testSlot, gen uint64) any { return s.Exit(gen) },
	"Busy":    func(s *testSlot, gen uint64) any { return s.Busy(gen) },
	"Held":    func(s *testSlot, gen uint64) any { return s.Held(gen) },
	"Release": endOp(Release),
	"Discard": endOp(Discard),
	"Revoke":  endOp(Revoke),
	"Abandon": endOp(Abandon),
	"Detach":  endOp(Detach),
}

// noEnd is what endOp reports when the lease word refused to end.
const noEnd = "none"

func endOp(how How) func(s *testSlot, gen uint64) any {
	return func(s *testSlot, gen uint64) any {
		a, ok := s.endWord(gen, how)
		if !ok {
			return noEnd
		}
		return a
	}
}

func TestLeaseTransitions(t *testing.T) {
	const gen = 5
	tests := []struct {
		from uint64
		op   string
		want any
		to   uint64
	}{
		{stHeld, "Enter", EnterOK, stBusy},
		{stHeld, "Exit", false, stHeld},
		{stHeld, "Busy", false, stHeld},
		{stHeld, "Held", true, stHeld},
		{stHeld, "Release", Keep, stFree},
		{stHeld, "Discard", Close, stRevoked},
		{stHeld, "Revoke", Close, stRevoked},
		{stHeld, "Abandon", Close, stRevoked},
		{stHeld, "Detach", Detached, stRevoked},

		{stBusy, "Enter", EnterBusy, stBusy},
		{stBusy, "Exit", false, stHeld},
		{stBusy, "Busy", true, stBusy},
		{stBusy, "Held", true, stBusy},
		{stBusy, "Release", Interrupt, stRevoking},
		{stBusy, "Discard", noEnd, stBusy},
		{stBusy, "Revoke", Interrupt, stRevoking},
		{stBusy, "Abandon", Close, stRevoked},
		{stBusy, "Detach", noEnd, stBusy},

		{stRevoking, "Enter", EnterRevoked, stRevoking},
		{stRevoking, "Exit", true, stRevoked},
		{stRevoking, "Busy", true, stRevoking},
		{stRevoking, "Held", false, stRevoking},
		{stRevoking, "Release", noEnd, stRevoking},
		{stRevoking, "Discard", noEnd, stRevoking},
		{stRevoking, "Revoke", noEnd, stRevoking},
		{stRevoking, "Abandon", noEnd, stRevoking},

		{stFree, "Enter", EnterEnded, stFree},
		{stFree, "Exit", false, stFree},
		{stFree, "Held", false, stFree},
		{stFree, "Release", noEnd, stFree},
		{stFree, "Revoke", noEnd, stFree},
		{stFree, "Abandon", noEnd, stFree},

		{stRevoked, "Enter", EnterRevoked, stRevoked},
		{stRevoked, "Exit", false, stRevoked},
		{stRevoked, "Held", false, stRevoked},
		{stRevoked, "Release", noEnd, stRevoked},
		{stRevoked, "Revoke", noEnd, stRevoked},
		{stRevoked, "Abandon", noEnd, stRevoked},
	}
	for _, tt := range tests {
		t.Run(stateNames[tt.from]+"/"+tt.op, func(t *testing.T) {
			s := slotIn(gen, tt.from)
			if got := leaseOps[tt.op](s, gen); got != tt.want {
				t.Errorf("%s = %v, want %v", tt.op, got, tt.want)
			}
			if v := s.word.v.Load(); v != pack(gen, tt.to) {
				t.Errorf("word is gen %d state %s, want gen %d state %s", v>>genShift, stateNames[v&stMask], gen, stateNames[tt.to])
			}
		})
	}
}

// TestLeaseStaleGeneration checks that a handle of an older or newer
// generation changes nothing, whatever the state of the current lease.
func TestLeaseStaleGeneration(t *testing.T) {
	const gen = 9
	stale := map[string]any{
		"Enter": EnterEnded, "Exit": false, "Busy": false, "Held": false,
		"Release": noEnd, "Discard": noEnd, "Revoke": noEnd, "Abandon": noEnd, "Detach": noEnd,
	}
	for st, sn := range stateNames {
		for op, want := range stale {
			for _, h := range []uint64{gen - 1, 0} {
				s := slotIn(gen, st)
				if got := leaseOps[op](s, h); got != want {
					t.Errorf("%s by gen %d on gen %d %s = %v, want %v", op, h, gen, sn, got, want)
				}
				if s.word.v.Load() != pack(gen, st) {
					t.Errorf("%s by gen %d changed a gen %d %s lease", op, h, gen, sn)
				}
			}
		}
	}
}

// TestLeaseThroughEngine follows a slot through two leases.
func TestLeaseThroughEngine(t *testing.T) {
	e := newEngine(t, 1, pc("a", 0, 1, 0))
	s := take(t, e, 0)
	g1 := s.Gen()
	if s.Enter(g1) != EnterOK || s.Enter(g1) != EnterBusy || !s.Busy(g1) {
		t.Fatal("a busy lease must refuse a second call")
	}
	if s.Exit(g1) || s.Busy(g1) {
		t.Fatal("Exit of an unrevoked call must not ask to finish")
	}
	put(t, e, s, true)
	if s.Enter(g1) != EnterEnded {
		t.Fatal("a released handle may still enter")
	}
	s2 := take(t, e, 0)
	if s2 != s || s.Gen() != g1+1 {
		t.Fatalf("re-lease: same slot %v gen %d, want gen %d", s2 == s, s.Gen(), g1+1)
	}
	for _, how := range []How{Release, Discard, Revoke, Abandon} {
		if en := e.End(s, g1, how, true); en.Ended {
			t.Errorf("the old handle's End(%v) ended the new lease", how)
		}
	}
	if s.Enter(g1) != EnterEnded || s.Enter(s.Gen()) != EnterOK {
		t.Fatal("the new lease must be usable only by its own handle")
	}
	if en := e.End(s, s.Gen(), Revoke, true); en.Action != Interrupt || !s.Exit(s.Gen()) {
		t.Fatal("revoking a busy lease must let its Exit finish the revocation")
	}
	e.Closed(s)
	checkStats(t, e, 0, []int{0}, []int{0})
}

// TestLeaseWhyHeld checks what Enter concludes when its compare-and-swap
// failed on a busy lease whose call then ended: the lease is held, not
// ended, so Enter must try again rather than report EnterEnded.
func TestLeaseWhyHeld(t *testing.T) {
	s := slotIn(3, stHeld)
	if r := s.why(3); r == EnterEnded || r == EnterRevoked || r == EnterBusy {
		t.Fatalf("a held lease with no call in flight was reported as %v", r)
	}
}

// TestLeaseConcurrentEnterRevoke races callers of one lease against a
// revocation: at most one call is ever in flight, the revocation is done
// exactly once, and once it is done every call fails with EnterRevoked.
func TestLeaseConcurrentEnterRevoke(t *testing.T) {
	for round := range 200 {
		s := slotIn(1, stHeld)
		const gen = 1
		var inside, finished atomic.Int32
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					switch r := s.Enter(gen); r {
					case EnterOK:
						if inside.Add(1) != 1 {
							t.Errorf("round %d: two calls in flight", round)
						}
						inside.Add(-1)
						if s.Exit(gen) {
							finished.Add(1)
						}
					case EnterBusy:
					case EnterRevoked:
						return
					default:
						t.Errorf("round %d: Enter = %v on a held lease", round, r)
						return
					}
				}
			}()
		}
		r := endOp(Revoke)(s, gen)
		wg.Wait()
		switch r {
		case Close:
			if finished.Load() != 0 {
				t.Errorf("round %d: idle revocation also finished by Exit", round)
			}
		case Interrupt:
			if finished.Load() != 1 {
				t.Errorf("round %d: in-flight revocation finished %d times", round, finished.Load())
			}
		default:
			t.Fatalf("round %d: Revoke = %v", round, r)
		}
		if s.word.v.Load() != pack(gen, stRevoked) || s.Enter(gen) != EnterRevoked || endOp(Revoke)(s, gen) != noEnd {
			t.Errorf("round %d: lease not fully revoked", round)
		}
	}
}

// TestLeaseConcurrentEnter races two callers of one lease: each call gets
// in or is told the lease is busy, never that it ended.
func TestLeaseConcurrentEnter(t *testing.T) {
	s := slotIn(1, stHeld)
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20000 {
				switch s.Enter(1) {
				case EnterOK:
					s.Exit(1)
				case EnterBusy:
				default:
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n != 0 {
		t.Errorf("%d calls on a held lease were told it ended", n)
	}
}

// TestLeaseReleaseRacesRevoke races releases against revocations that come
// too late: a revocation that lost to the release must not make the
// released lease, or the slot's next one, look revoked.
func TestLeaseReleaseRacesRevoke(t *testing.T) {
	s := slotIn(0, stFree)
	var gen atomic.Uint64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			endOp(Revoke)(s, gen.Load())
		}
	}()
	wrong := 0
	deadline := time.Now().Add(300 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		s.word.v.Store(pack(s.Gen()+1, stHeld)) // a new lease, as the engine starts one
		g := s.Gen()
		gen.Store(g)
		if a, ok := s.endWord(g, Release); ok && a == Keep {
			if r := s.Enter(g); r != EnterEnded {
				wrong++
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if wrong > 0 {
		t.Errorf("%d released leases reported as revoked", wrong)
	}
}
