package poolguard

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/poolguard/poolguard/internal/engine"
)

// Errors returned by Acquire and by the calls that acquire for you (With,
// WithTx, Exec, Query, QueryRow). Match them with errors.Is.
var (
	// ErrClosed means the pool was closed.
	ErrClosed = errors.New("poolguard: pool closed")
	// ErrPaused means the partition was paused (see Partition.Pause).
	ErrPaused = errors.New("poolguard: partition paused")
	// ErrQueueFull means the partition already had MaxWaiting callers waiting.
	ErrQueueFull = errors.New("poolguard: wait queue full")
	// ErrAcquireTimeout means the caller's deadline passed while waiting, or
	// had passed, or could not be met given the partition's recent hold
	// times. The error also matches context.DeadlineExceeded.
	ErrAcquireTimeout = errors.New("poolguard: acquire timed out")
	// ErrNoPartition means a partition name given to Pool.Partition is not
	// configured.
	ErrNoPartition = errors.New("poolguard: no partition named")
)

// Errors returned by the methods of a Conn, and of the Rows, Row, Tx and
// batch results obtained from it.
var (
	// ErrLeaseRevoked means the pool took the connection back: the lease was
	// held past its partition's MaxHold, was revoked by hand, or the pool
	// closed. The physical connection was destroyed, never reused.
	ErrLeaseRevoked = errors.New("poolguard: lease revoked")
	// ErrReleased means the Conn was used after Release, or after the With
	// or WithTx scope that acquired it returned.
	ErrReleased = errors.New("poolguard: conn used after release")
	// ErrConnBusy means a call was made on a Conn while another call, or
	// rows not yet closed, were in progress on it.
	ErrConnBusy = errors.New("poolguard: conn busy: close the rows or finish the call in progress first")
)

// RejectReason says why an acquire was refused. PartitionStats counts
// rejected acquires by reason; AcquireError carries the matching sentinel.
type RejectReason int

// Reasons an acquire is rejected.
const (
	RejectClosed    = RejectReason(engine.ReasonClosed)    // the pool was closed
	RejectPaused    = RejectReason(engine.ReasonPaused)    // the partition was paused
	RejectQueueFull = RejectReason(engine.ReasonQueueFull) // the wait queue was full
	RejectDeadline  = RejectReason(engine.ReasonDeadline)  // the deadline had passed or could not be met: refused without waiting
	RejectTimeout   = RejectReason(engine.ReasonTimeout)   // the deadline passed while waiting
	RejectCanceled  = RejectReason(engine.ReasonCanceled)  // the context was canceled while waiting
)

// String returns the reason's name as used in logs and metrics.
func (r RejectReason) String() string { return engine.Reason(r).String() }

// RejectReasons lists every reject reason, in order.
func RejectReasons() []RejectReason {
	rs := make([]RejectReason, 0, engine.NumReasons-1)
	for r := RejectClosed; r < RejectReason(engine.NumReasons); r++ {
		rs = append(rs, r)
	}
	return rs
}

// AcquireError is returned when an acquire is refused. It says where the
// partition's connections are: the holders, grouped by the call site that
// acquired them. It matches the sentinel for its cause (ErrAcquireTimeout,
// ErrQueueFull, ErrPaused or ErrClosed) and, when the context ended, the
// context's error.
type AcquireError struct {
	Partition string
	Err       error         // the sentinel: ErrAcquireTimeout, ErrQueueFull, ErrPaused or ErrClosed
	Cause     error         // the context's error, if the context ended; else nil
	Waited    time.Duration // time spent in the wait queue
	InUse     int           // the partition's leases when refused
	Max       int           // the partition's Max
	Waiting   int           // callers still waiting in the partition
	Holders   []Holder      // the partition's leases grouped by call site, most first
}

// Holder is a group of leases acquired at the same call site.
type Holder struct {
	CallSite string        // file:line of the acquire
	Function string        // the function that acquired
	Count    int           // leases held from this call site
	Oldest   time.Duration // age of the oldest of them
}

// Error describes the refusal and who holds the partition's connections.
func (e *AcquireError) Error() string {
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "poolguard: "))
	fmt.Fprintf(&b, " on partition %q", e.Partition)
	if e.Waited > 0 {
		fmt.Fprintf(&b, " after %s", round(e.Waited))
	}
	fmt.Fprintf(&b, ": %d/%d in use, %d waiting", e.InUse, e.Max, e.Waiting)
	if len(e.Holders) > 0 {
		b.WriteString("; held by")
		for i, h := range e.Holders {
			if i == maxHoldersShown {
				fmt.Fprintf(&b, ", and %d more call sites", len(e.Holders)-i)
				break
			}
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s %d at %s (%s, oldest %s)", sep, h.Count, h.CallSite, h.Function, round(h.Oldest))
		}
	}
	return "poolguard: " + b.String()
}

const maxHoldersShown = 3

// Unwrap returns the sentinel and, if the context ended, its error.
func (e *AcquireError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}
