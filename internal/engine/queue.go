package engine

import "sync/atomic"

// waiter is one caller waiting in a partition's queue.
type waiter[R any] struct {
	ch         chan result[R] // buffered: the engine never blocks handing over
	start      instant
	seq        uint64
	queued     bool
	prev, next *waiter[R]
	npcs       int
	pcs        [MaxStack]uintptr
}

type result[R any] struct {
	grant  Grant[R]
	reason Reason
}

// waitQueue is an intrusive FIFO list, so a waiter whose context ends leaves
// from anywhere in the queue in constant time. It is changed under the
// engine's lock; its length is read without it too, by the fast path.
type waitQueue[R any] struct {
	head, tail *waiter[R]
	n          atomic.Int64
}

func (q *waitQueue[R]) empty() bool { return q.head == nil }

func (q *waitQueue[R]) push(w *waiter[R]) {
	w.queued = true
	w.prev, w.next = q.tail, nil
	if q.tail == nil {
		q.head = w
	} else {
		q.tail.next = w
	}
	q.tail = w
	q.n.Add(1)
}

func (q *waitQueue[R]) remove(w *waiter[R]) {
	if w.prev == nil {
		q.head = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		q.tail = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	q.n.Add(-1)
}
