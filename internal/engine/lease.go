package engine

import "sync/atomic"

// A slot's lease word packs the lease generation and its state, so that a
// compare-and-swap by a handle of an older generation always fails: a handle
// that outlived its lease cannot act on the slot's next lease.
const (
	stHeld     = 0 // leased, no call in flight
	stBusy     = 1 // leased, a call (or open rows) in flight
	stRevoking = 2 // revoked while busy; the caller's Exit finishes the revocation
	stFree     = 3 // not leased (idle, or lease released)
	stRevoked  = 4 // not leased: the lease was revoked or force-ended
	stMask     = 7
	genShift   = 3
)

// EnterResult says why a handle may not use its slot.
type EnterResult int

// Results of Slot.Enter.
const (
	EnterOK      EnterResult = iota
	EnterBusy                // another call is in flight on the same lease
	EnterEnded               // the lease was released
	EnterRevoked             // the lease was revoked or reclaimed
)

type leaseWord struct{ v atomic.Uint64 }

func pack(gen uint64, st uint64) uint64 { return gen<<genShift | st }

// Gen returns the slot's current lease generation.
func (s *Slot[R]) Gen() uint64 { return s.word.v.Load() >> genShift }

// Enter marks a call in flight on the lease gen. It fails when the lease has
// ended, was revoked, or already has a call in flight.
func (s *Slot[R]) Enter(gen uint64) EnterResult {
	for {
		if s.word.v.CompareAndSwap(pack(gen, stHeld), pack(gen, stBusy)) {
			return EnterOK
		}
		if r := s.why(gen); r != enterAgain {
			return r
		}
	}
}

// enterAgain is why's answer when the lease is held with no call in flight:
// the call that made Enter's compare-and-swap fail has ended since, so Enter
// tries again.
const enterAgain EnterResult = -1

func (s *Slot[R]) why(gen uint64) EnterResult {
	v := s.word.v.Load()
	if v>>genShift != gen {
		// A slot is never leased again after a revocation, so a newer
		// generation means this handle's lease ended by release.
		return EnterEnded
	}
	switch v & stMask {
	case stHeld:
		return enterAgain
	case stBusy:
		return EnterBusy
	case stRevoking, stRevoked:
		return EnterRevoked
	}
	return EnterEnded
}

// Exit ends the call entered with Enter. It reports true when the lease was
// revoked during the call: the caller must then finish the revocation by
// destroying the slot.
func (s *Slot[R]) Exit(gen uint64) (finish bool) {
	if s.word.v.CompareAndSwap(pack(gen, stBusy), pack(gen, stHeld)) {
		return false
	}
	return s.word.v.CompareAndSwap(pack(gen, stRevoking), pack(gen, stRevoked))
}

// End ends the lease gen if no call is in flight, and reports whether it did.
// After End succeeds, no handle can enter the slot again until it is leased
// anew.
func (s *Slot[R]) End(gen uint64) bool {
	return s.word.v.CompareAndSwap(pack(gen, stHeld), pack(gen, stFree))
}

// RevokeResult says what Revoke did.
type RevokeResult int

// Results of Slot.Revoke.
const (
	RevokeNone     RevokeResult = iota // the lease had already ended
	RevokeIdle                         // ended at once: the caller destroys the slot
	RevokeInFlight                     // a call is in flight: cancel it; its Exit destroys the slot
)

// Revoke takes the lease gen away from its holder. Every later call on the
// handle fails with EnterRevoked.
func (s *Slot[R]) Revoke(gen uint64) RevokeResult {
	for {
		v := s.word.v.Load()
		if v>>genShift != gen {
			return RevokeNone
		}
		switch v & stMask {
		case stHeld:
			if s.word.v.CompareAndSwap(v, pack(gen, stRevoked)) {
				return RevokeIdle
			}
		case stBusy:
			if s.word.v.CompareAndSwap(v, pack(gen, stRevoking)) {
				return RevokeInFlight
			}
		default:
			return RevokeNone
		}
	}
}

// ForceEnd ends the lease gen whatever its state. It is only safe when no
// goroutine can be using the lease: when its handle is unreachable.
func (s *Slot[R]) ForceEnd(gen uint64) bool {
	for {
		v := s.word.v.Load()
		if st := v & stMask; v>>genShift != gen || st == stFree || st == stRevoked {
			return false
		}
		if s.word.v.CompareAndSwap(v, pack(gen, stRevoked)) {
			return true
		}
	}
}

// Busy reports whether the lease gen has a call in flight, revoked or not.
func (s *Slot[R]) Busy(gen uint64) bool {
	v := s.word.v.Load()
	st := v & stMask
	return v>>genShift == gen && (st == stBusy || st == stRevoking)
}
