package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// slotIn returns a slot whose lease word is generation gen in state st.
func slotIn(gen, st uint64, why EndReason) *testSlot {
	s := &testSlot{}
	s.word.v.Store(pack(gen, st))
	s.endReason.Store(int32(why))
	return s
}

var stateNames = map[uint64]string{stHeld: "held", stBusy: "busy", stRevoking: "revoking", stFree: "free"}

// leaseOps are the operations on a lease word, as seen by a handle of gen.
var leaseOps = map[string]func(s *testSlot, gen uint64) any{
	"Enter":    func(s *testSlot, gen uint64) any { return s.Enter(gen) },
	"Exit":     func(s *testSlot, gen uint64) any { return s.Exit(gen) },
	"End":      func(s *testSlot, gen uint64) any { return s.End(gen) },
	"Revoke":   func(s *testSlot, gen uint64) any { return s.Revoke(gen) },
	"ForceEnd": func(s *testSlot, gen uint64) any { return s.ForceEnd(gen) },
	"Busy":     func(s *testSlot, gen uint64) any { return s.Busy(gen) },
}

func TestLeaseTransitions(t *testing.T) {
	const gen = 5
	tests := []struct {
		from    uint64
		why     EndReason // the slot's end reason before the operation
		op      string
		want    any
		to      uint64
		revoked bool // the end reason is EndRevoked after the operation
	}{
		{stHeld, EndReleased, "Enter", EnterOK, stBusy, false},
		{stHeld, EndReleased, "Exit", false, stHeld, false},
		{stHeld, EndReleased, "End", true, stFree, false},
		{stHeld, EndReleased, "Revoke", RevokeIdle, stFree, true},
		{stHeld, EndReleased, "ForceEnd", true, stFree, true},
		{stHeld, EndReleased, "Busy", false, stHeld, false},

		{stBusy, EndReleased, "Enter", EnterBusy, stBusy, false},
		{stBusy, EndReleased, "Exit", false, stHeld, false},
		{stBusy, EndReleased, "End", false, stBusy, false},
		{stBusy, EndReleased, "Revoke", RevokeInFlight, stRevoking, true},
		{stBusy, EndReleased, "ForceEnd", true, stFree, true},
		{stBusy, EndReleased, "Busy", true, stBusy, false},

		{stRevoking, EndRevoked, "Enter", EnterRevoked, stRevoking, true},
		{stRevoking, EndRevoked, "Exit", true, stFree, true},
		{stRevoking, EndRevoked, "End", false, stRevoking, true},
		{stRevoking, EndRevoked, "Revoke", RevokeNone, stRevoking, true},
		{stRevoking, EndRevoked, "ForceEnd", true, stFree, true},
		{stRevoking, EndRevoked, "Busy", true, stRevoking, true},

		{stFree, EndReleased, "Enter", EnterEnded, stFree, false},
		{stFree, EndReleased, "Exit", false, stFree, false},
		{stFree, EndReleased, "End", false, stFree, false},
		{stFree, EndReleased, "Revoke", RevokeNone, stFree, false},
		{stFree, EndReleased, "ForceEnd", false, stFree, false},

		{stFree, EndRevoked, "Enter", EnterRevoked, stFree, true},
		{stFree, EndRevoked, "Exit", false, stFree, true},
		{stFree, EndRevoked, "End", false, stFree, true},
		{stFree, EndRevoked, "Revoke", RevokeNone, stFree, true},
		{stFree, EndRevoked, "ForceEnd", false, stFree, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/%d/%s", stateNames[tt.from], tt.why, tt.op)
		t.Run(name, func(t *testing.T) {
			s := slotIn(gen, tt.from, tt.why)
			if got := leaseOps[tt.op](s, gen); got != tt.want {
				t.Errorf("%s = %v, want %v", tt.op, got, tt.want)
			}
			if v := s.word.v.Load(); v != pack(gen, tt.to) {
				t.Errorf("word is gen %d state %s, want gen %d state %s", v>>genShift, stateNames[v&stMask], gen, stateNames[tt.to])
			}
			if got := EndReason(s.endReason.Load()) == EndRevoked; got != tt.revoked {
				t.Errorf("end reason revoked = %v, want %v", got, tt.revoked)
			}
		})
	}
}

// TestLeaseStaleGeneration checks that a handle of an older or newer
// generation changes nothing, whatever the state of the current lease.
func TestLeaseStaleGeneration(t *testing.T) {
	const gen = 9
	stale := map[string]any{
		"Enter": EnterEnded, "Exit": false, "End": false,
		"Revoke": RevokeNone, "ForceEnd": false, "Busy": false,
	}
	for st, sn := range stateNames {
		for op, want := range stale {
			for _, h := range []uint64{gen - 1, 0} {
				s := slotIn(gen, st, EndReleased)
				if got := leaseOps[op](s, h); got != want {
					t.Errorf("%s by gen %d on gen %d %s = %v, want %v", op, h, gen, sn, got, want)
				}
				if s.word.v.Load() != pack(gen, st) || EndReason(s.endReason.Load()) != EndReleased {
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
	if s.Enter(g1) != EnterOK || s.Enter(g1) != EnterBusy || !s.Busy(g1) || s.End(g1) {
		t.Fatal("a busy lease must refuse a second call and End")
	}
	if s.Exit(g1) || s.Busy(g1) {
		t.Fatal("Exit of an unrevoked call must not ask to destroy")
	}
	put(t, e, s, true)
	if s.Enter(g1) != EnterEnded {
		t.Fatal("a released handle may still enter")
	}
	s2 := take(t, e, 0)
	if s2 != s || s.Gen() != g1+1 {
		t.Fatalf("re-lease: same slot %v gen %d, want gen %d", s2 == s, s.Gen(), g1+1)
	}
	for op, f := range leaseOps {
		if op != "Busy" && op != "Enter" {
			if got := f(s, g1); got == true || got == RevokeIdle || got == RevokeInFlight {
				t.Errorf("the old handle's %s acted on the new lease: %v", op, got)
			}
		}
	}
	if s.Enter(g1) != EnterEnded || s.Enter(s.Gen()) != EnterOK {
		t.Fatal("the new lease must be usable only by its own handle")
	}
	if s.Revoke(s.Gen()) != RevokeInFlight || !s.Exit(s.Gen()) {
		t.Fatal("revoking a busy lease must let its Exit finish the revocation")
	}
	if _, ok := e.Reclaim(s); !ok {
		t.Fatal("Reclaim failed")
	}
	e.Closed()
	checkStats(t, e, 0, []int{0}, []int{0})
}

// TestLeaseWhyHeld checks what Enter concludes when its compare-and-swap
// failed on a busy lease whose call then ended: the lease is held, not
// ended, so Enter must try again rather than report EnterEnded.
func TestLeaseWhyHeld(t *testing.T) {
	s := slotIn(3, stHeld, EndReleased)
	if r := s.why(3); r == EnterEnded || r == EnterRevoked || r == EnterBusy {
		t.Fatalf("a held lease with no call in flight was reported as %v", r)
	}
}

// TestLeaseConcurrentEnterRevoke races callers of one lease against a
// revocation: at most one call is ever in flight, the revocation is done
// exactly once, and once it is done every call fails with EnterRevoked.
func TestLeaseConcurrentEnterRevoke(t *testing.T) {
	for round := range 200 {
		s := slotIn(1, stHeld, EndReleased)
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
		r := s.Revoke(gen)
		wg.Wait()
		switch r {
		case RevokeIdle:
			if finished.Load() != 0 {
				t.Errorf("round %d: idle revocation also finished by Exit", round)
			}
		case RevokeInFlight:
			if finished.Load() != 1 {
				t.Errorf("round %d: in-flight revocation finished %d times", round, finished.Load())
			}
		default:
			t.Fatalf("round %d: Revoke = %v", round, r)
		}
		if s.word.v.Load() != pack(gen, stFree) || s.Enter(gen) != EnterRevoked || s.Revoke(gen) != RevokeNone {
			t.Errorf("round %d: lease not fully revoked", round)
		}
	}
}

// TestLeaseConcurrentEnter races two callers of one lease: each call gets
// in or is told the lease is busy, never that it ended.
func TestLeaseConcurrentEnter(t *testing.T) {
	s := slotIn(1, stHeld, EndReleased)
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
