package soak

import (
	"fmt"
	"sync"
	"time"

	"github.com/poolguard/poolguard"
)

// recorder keeps what the leak accounting needs: the leaks the workload
// made, the leak events the pool reported, and the leases the chaos
// goroutine revoked.
type recorder struct {
	mu        sync.Mutex
	leaks     []leak
	proven    []poolguard.LeakEvent
	suspected int
	revokes   []revocation
}

// revocation is a lease that Pool.Revoke reported it ended, and when it
// had returned.
type revocation struct {
	pid uint32
	at  time.Time
}

func (r *recorder) leaked(l leak) {
	r.mu.Lock()
	r.leaks = append(r.leaks, l)
	r.mu.Unlock()
}

// onLeak is the pool's Config.OnLeak.
func (r *recorder) onLeak(ev poolguard.LeakEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Kind.Proven() {
		r.proven = append(r.proven, ev)
	} else if ev.Kind == poolguard.LeakSuspected {
		r.suspected++
	}
}

func (r *recorder) revoked(pid uint32) {
	at := time.Now()
	r.mu.Lock()
	r.revokes = append(r.revokes, revocation{pid, at})
	r.mu.Unlock()
}

func (r *recorder) provenCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.proven)
}

func (r *recorder) revokeCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.revokes)
}

// pidMargin is how far before a leak began its lease may say it was
// acquired; see check.
const pidMargin = time.Second

// leakFigures are the leak accounting's counts, by kind of leak.
type leakFigures struct {
	made, proven, revoked map[string]int
	provenEvents          int
	falseProofs           int
	suspected             int
}

// check accounts for every deliberate leak and every proven leak event:
// each proven leak must be at a leaking site of the workload and be one
// of its leaks, and each leak must have ended exactly once, proven or
// revoked.
func (r *recorder) check() (leakFigures, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := leakFigures{made: map[string]int{}, proven: map[string]int{}, revoked: map[string]int{},
		provenEvents: len(r.proven), suspected: r.suspected}
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	usedEvent := make([]bool, len(r.proven))
	for i, ev := range r.proven {
		if siteKind(ev.CallSite) == "" {
			f.falseProofs++
			usedEvent[i] = true
			report("false proof: %s", ev)
		}
	}
	usedRevoke := make([]bool, len(r.revokes))
	for _, l := range r.leaks {
		f.made[l.kind]++
		ev := -1
		if l.kind == leakEscapedScope {
			// The use of an escaped Conn is reported with the use's stack,
			// and its lease had already ended: it is matched by call site.
			for i, e := range r.proven {
				if !usedEvent[i] && e.Kind == poolguard.LeakScopeEscaped && siteKind(e.CallSite) == leakEscapedScope {
					ev = i
					break
				}
			}
		} else {
			// The earliest event on the leak's backend since it began. A
			// lease granted to a waiter takes the time at which the
			// releaser that served it read the clock, which may be a
			// little before the waiter arrived: hence the margin. A
			// backend's PID is not reused within it.
			from := l.began.Add(-pidMargin)
			for i, e := range r.proven {
				if !usedEvent[i] && e.PID == l.pid && siteKind(e.CallSite) == l.kind && !e.Acquired.Before(from) &&
					(ev < 0 || e.Acquired.Before(r.proven[ev].Acquired)) {
					ev = i
				}
			}
		}
		rv := -1
		if l.kind != leakEscapedScope {
			for i, v := range r.revokes {
				if !usedRevoke[i] && v.pid == l.pid && v.at.After(l.began) && (rv < 0 || v.at.Before(r.revokes[rv].at)) {
					rv = i
				}
			}
		}
		// Over a long soak the server's PIDs wrap around: a later event
		// or revocation on the same PID is another backend's, which
		// exists only once the leak's has ended. So the earlier of the
		// two is the leak's end, and the other is left for a later leak.
		if ev >= 0 && rv >= 0 {
			e, v := r.proven[ev], r.revokes[rv]
			if v.at.After(e.Acquired) && v.at.Before(e.Acquired.Add(e.Age)) {
				report("%s leak on backend %d ended twice: proven (%s) and revoked while held", l.kind, l.pid, e.CallSite)
			}
			if e.Acquired.Before(v.at) {
				rv = -1
			} else {
				ev = -1
			}
		}
		switch {
		case ev >= 0:
			f.proven[l.kind]++
		case rv >= 0:
			f.revoked[l.kind]++
		default:
			var seen []string
			for _, e := range r.proven {
				if e.PID == l.pid {
					seen = append(seen, fmt.Sprintf("%s at %s acquired %s", e.Kind, e.CallSite, e.Acquired.Format(time.StampMicro)))
				}
			}
			report("%s leak on backend %d, begun at %s, was neither proven nor revoked (events on that backend: %v)",
				l.kind, l.pid, l.began.Format(time.StampMicro), seen)
		}
		if ev >= 0 {
			usedEvent[ev] = true
		}
		if rv >= 0 {
			usedRevoke[rv] = true
		}
	}
	for i, ev := range r.proven {
		if !usedEvent[i] {
			report("proven leak at a leaking site matches no leak the workload made: backend %d, acquired %s: %s",
				ev.PID, ev.Acquired.Format(time.StampMicro), ev)
		}
	}
	return f, problems
}
