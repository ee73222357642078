package engine

import "sync/atomic"

// A slot's id is its place in the engine's table of live slots, by which
// an idle stack links its slots. Ids are reused once a slot is gone.
const (
	idBits = 24
	idMask = 1<<idBits - 1
	// MaxSlots is the most resources an engine can hold at once.
	MaxSlots = idMask - 1
)

// slotTable is the engine's live slots by id, read without the lock by
// the idle stacks. It is replaced when it grows, never grown in place, so
// a reader's copy stays valid.
type slotTable[R any] []atomic.Pointer[Slot[R]]

// idleStack is a partition's idle slots, the most recently released on
// top: the warmest connection is handed out first, and the surplus ages at
// the bottom until it times out. It is a lock-free stack (Treiber's), so
// that a lease can start and end without the engine's lock. Its head packs
// a version with the top slot's id+1, and every change bumps the version:
// a pop that read a head which changed since, even one with the same slot
// on top again and another below it, fails its compare-and-swap instead of
// corrupting the stack. The version has 40 bits: a pop would have to stall
// through 2^40 changes of one head to be fooled.
type idleStack[R any] struct {
	head atomic.Uint64
}

func nextHead(h, top uint64) uint64 { return (h>>idBits+1)<<idBits | top }

// empty reports whether the stack holds no slot.
func (st *idleStack[R]) empty() bool { return st.head.Load()&idMask == 0 }

// pop takes the top slot, or returns nil when the stack is empty.
func (st *idleStack[R]) pop(tab *atomic.Pointer[slotTable[R]]) *Slot[R] {
	for {
		h := st.head.Load()
		top := h & idMask
		if top == 0 {
			return nil
		}
		// The table read after the head holds every id the head can
		// name: a slot gets its id before it is first pushed.
		s := (*tab.Load())[top-1].Load()
		if s == nil {
			continue // popped and gone since the head was read
		}
		if st.head.CompareAndSwap(h, nextHead(h, uint64(s.next.Load()))) {
			return s
		}
	}
}

// push puts s on top. The caller owns s: no stack holds it.
func (st *idleStack[R]) push(s *Slot[R]) {
	for {
		h := st.head.Load()
		// A slot released where it was taken finds the same slot below
		// it: a read then saves an atomic write.
		if below := uint32(h & idMask); s.next.Load() != below {
			s.next.Store(below)
		}
		if st.head.CompareAndSwap(h, nextHead(h, uint64(s.id)+1)) {
			return
		}
	}
}

// drain takes every slot at once and returns them top first. It must be
// called with the engine's lock held, which keeps the slots' ids valid
// while their links are followed.
func (st *idleStack[R]) drain(tab *atomic.Pointer[slotTable[R]]) []*Slot[R] {
	var h uint64
	for {
		h = st.head.Load()
		if h&idMask == 0 || st.head.CompareAndSwap(h, nextHead(h, 0)) {
			break
		}
	}
	t := *tab.Load()
	var out []*Slot[R]
	for id := h & idMask; id != 0; {
		s := t[id-1].Load()
		out = append(out, s)
		id = uint64(s.next.Load())
	}
	return out
}

// restore pushes back slots that drain returned, top first, under the
// slots pushed since, which are newer. It must be called with the
// engine's lock held.
func (st *idleStack[R]) restore(tab *atomic.Pointer[slotTable[R]], slots []*Slot[R]) {
	if len(slots) == 0 {
		return
	}
	newer := st.drain(tab)
	for _, l := range [][]*Slot[R]{slots, newer} {
		for i := len(l) - 1; i >= 0; i-- {
			st.push(l[i])
		}
	}
}
