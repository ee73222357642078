package poolguard

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poolguard/poolguard/internal/engine"
)

// LeakKind says how a leak was detected.
type LeakKind int

// Leak kinds. The first four are proven leaks, whose connections the pool
// takes back; suspects are only warnings.
const (
	// LeakUnreachable: the Conn became unreachable without Release. Proven
	// by the garbage collector, so it is reported at the next collection.
	LeakUnreachable LeakKind = iota + 1
	// LeakScopeEscaped: the Conn of a With scope was used, or still had a
	// call or rows in progress, after the scope returned.
	LeakScopeEscaped
	// LeakMaxHold: the lease was held past its partition's MaxHold and was
	// revoked.
	LeakMaxHold
	// LeakOpenAtClose: the lease was still held when Close gave up waiting.
	LeakOpenAtClose
	// LeakSuspected: held longer than SuspectAfter with no statement
	// running: idle, or with its rows or batch results left open.
	LeakSuspected
	// LeakSuspectReturned: a suspect was released after all.
	LeakSuspectReturned
	numLeakKinds
)

var leakKindNames = [...]string{"", "unreachable", "scope_escaped", "max_hold", "open_at_close", "suspected", "suspect_returned"}

// String returns the kind's name as used in logs and metrics.
func (k LeakKind) String() string {
	if k <= 0 || k >= numLeakKinds {
		return fmt.Sprintf("LeakKind(%d)", int(k))
	}
	return leakKindNames[k]
}

// Proven reports whether k is a proven leak rather than a suspicion.
func (k LeakKind) Proven() bool { return k >= LeakUnreachable && k <= LeakOpenAtClose }

// LeakKinds lists every leak kind, in order.
func LeakKinds() []LeakKind {
	ks := make([]LeakKind, 0, numLeakKinds-1)
	for k := LeakUnreachable; k < numLeakKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

// ReclaimReason says why the pool took a connection back from its holder.
type ReclaimReason int

// Reclaim reasons.
const (
	reclaimNone    ReclaimReason = iota
	ReclaimLeak                  // the Conn became unreachable without Release
	ReclaimScope                 // the Conn escaped its With scope
	ReclaimMaxHold               // held past the partition's MaxHold
	ReclaimRevoked               // revoked by hand (Pool.Revoke)
	ReclaimClose                 // still held when the pool closed
	numReclaimReasons
)

var reclaimNames = [...]string{"", "leak", "scope", "max_hold", "revoked", "close"}

// ReclaimReasons lists every reclaim reason, in order.
func ReclaimReasons() []ReclaimReason {
	rs := make([]ReclaimReason, 0, numReclaimReasons-1)
	for r := ReclaimLeak; r < numReclaimReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// String returns the reason's name as used in logs and metrics.
func (r ReclaimReason) String() string {
	if r <= 0 || r >= numReclaimReasons {
		return fmt.Sprintf("ReclaimReason(%d)", int(r))
	}
	return reclaimNames[r]
}

// LeakEvent describes a leaked or suspected lease. It is logged and passed
// to Config.OnLeak.
//
// For a Conn used after its With scope returned (LeakScopeEscaped with no
// call in flight at the scope's end), the lease is over: CallSite, Function
// and Stack are those of the use, and Acquired and Age are zero.
type LeakEvent struct {
	Kind      LeakKind
	Partition string
	CallSite  string          // file:line of the acquire, or "unknown" without stacks
	Function  string          // the function that acquired
	Stack     []runtime.Frame // the acquiring stack, without poolguard's own frames
	Acquired  time.Time
	Age       time.Duration // how long the lease had been held
	PID       uint32        // the server backend's process ID
}

// String formats the event as one line, then the stack, one frame a line.
func (e LeakEvent) String() string {
	var b strings.Builder
	if e.Acquired.IsZero() {
		fmt.Fprintf(&b, "poolguard: %s on partition %q: used at %s in %s",
			e.Kind.describe(), e.Partition, e.CallSite, e.Function)
	} else {
		fmt.Fprintf(&b, "poolguard: %s on partition %q: acquired at %s in %s, held %s",
			e.Kind.describe(), e.Partition, e.CallSite, e.Function, round(e.Age))
	}
	for _, f := range e.Stack {
		fmt.Fprintf(&b, "\n\t%s\n\t\t%s:%d", f.Function, f.File, f.Line)
	}
	return b.String()
}

func (k LeakKind) describe() string {
	switch k {
	case LeakUnreachable:
		return "connection leaked (never released; its Conn was garbage collected), reclaimed"
	case LeakScopeEscaped:
		return "connection escaped its With scope, reclaimed"
	case LeakMaxHold:
		return "lease held past MaxHold, revoked"
	case LeakOpenAtClose:
		return "connection still held at Close, revoked"
	case LeakSuspected:
		return "suspected leak (held past SuspectAfter, no statement running)"
	case LeakSuspectReturned:
		return "suspected leak returned after all"
	}
	return k.String()
}

// frames formats a recorded stack, dropping poolguard's own frames so the
// first frame is the caller's acquire. When every frame is poolguard's or
// the runtime's (a goroutine started as "go pool.Exec(...)"), the nearest
// poolguard frame is kept rather than nothing.
func frames(pcs []uintptr) []runtime.Frame {
	if len(pcs) == 0 {
		return nil
	}
	var out []runtime.Frame
	var nearest *runtime.Frame
	fr := runtime.CallersFrames(pcs)
	for more := true; more; {
		var f runtime.Frame
		f, more = fr.Next()
		runtimeFrame := strings.HasPrefix(f.Function, "runtime.")
		switch {
		case strings.Contains(f.Function, ".gowrap"):
			// The wrapper of a go statement: runtime.Callers leaves it
			// out, and so does a report.
		case runtimeFrame && len(out) > 0:
			return out // runtime.main, runtime.goexit: no help to the reader
		case len(out) == 0 && internalFrame(f.Function):
			if !runtimeFrame {
				nearest = &f
			}
		default:
			out = append(out, f)
		}
	}
	if len(out) == 0 && nearest != nil {
		out = append(out, *nearest)
	}
	return out
}

// round shortens a duration for a message: milliseconds below a second,
// seconds above.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

const pkgPrefix = "github.com/poolguard/poolguard."

// foreignFrames is how many frames more a lease records when it is taken
// on behalf of database/sql (see hook.AcquireFor): enough to get past
// database/sql's own frames to the caller's.
const foreignFrames = 12

// internalFrame reports whether fn is a frame to trim from the top of a
// stack: poolguard's own, the runtime's, or those of database/sql and of
// poolguard's driver for it, which stand between a database/sql caller
// and the acquire.
func internalFrame(fn string) bool {
	for _, prefix := range []string{pkgPrefix, "runtime.", "database/sql.", stdlibPrefix} {
		if strings.HasPrefix(fn, prefix) {
			return true
		}
	}
	return false
}

const stdlibPrefix = "github.com/poolguard/poolguard/stdlib."

// callSite returns the first frame as "file:line" (the file's base name
// and its directory) and its function.
func callSite(st []runtime.Frame) (site, fn string) {
	if len(st) == 0 {
		return "unknown", "unknown"
	}
	f := st[0]
	return shortFile(f.File) + ":" + fmt.Sprint(f.Line), shortFunc(f.Function)
}

// shortFile keeps the last directory and the file name: enough to find the
// file, short enough for a log line.
func shortFile(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return path
	}
	if j := strings.LastIndexByte(path[:i], '/'); j >= 0 {
		return path[j+1:]
	}
	return path
}

// shortFunc drops the import path before the package name.
func shortFunc(fn string) string {
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

func (p *Pool) event(kind LeakKind, l engine.Lease[*pconn]) LeakEvent {
	st := frames(l.PCs)
	site, fn := callSite(st)
	ev := LeakEvent{
		Kind: kind, Partition: p.parts[l.Part].cfg.Name, CallSite: site, Function: fn, Stack: st,
		Acquired: l.Acquired, PID: l.Slot.Res.pid,
	}
	if !l.Acquired.IsZero() {
		ev.Age = time.Since(l.Acquired)
	}
	return ev
}

// report counts a leak event and delivers it to the logger and OnLeak, in a
// goroutine: it may be called from the finalizer goroutine, which must not
// block.
func (p *Pool) report(kind LeakKind, l engine.Lease[*pconn]) {
	pt := p.parts[l.Part]
	pt.leaks[kind].Add(1)
	ev := p.event(kind, l)
	pt.leakSites.count(ev.CallSite, kind)
	p.spawn(func() {
		level := slog.LevelError
		switch kind {
		case LeakSuspected:
			level = slog.LevelWarn
		case LeakSuspectReturned:
			level = slog.LevelInfo
		}
		p.cfg.Logger.Log(context.Background(), level, "poolguard: "+kind.describe(),
			"partition", ev.Partition, "call_site", ev.CallSite, "function", ev.Function,
			"age", round(ev.Age), "pid", ev.PID, "kind", kind.String(),
			"stack", stackText(ev.Stack))
		if p.cfg.OnLeak != nil {
			p.cfg.OnLeak(ev)
		}
	})
}

func stackText(st []runtime.Frame) string {
	var b strings.Builder
	for i, f := range st {
		if i > 0 {
			b.WriteString(" <- ")
		}
		fmt.Fprintf(&b, "%s (%s:%d)", shortFunc(f.Function), shortFile(f.File), f.Line)
	}
	return b.String()
}

// misuse is the record reported for a Conn used after its With scope
// returned. The lease has ended and its slot may serve someone else by now,
// so its record is not read: the stack is that of the use, which names the
// line to fix.
func (c *Conn) misuse() engine.Lease[*pconn] {
	pcs := make([]uintptr, engine.MaxStack)
	return engine.Lease[*pconn]{Slot: c.slot, Part: c.part().idx, PCs: pcs[:runtime.Callers(3, pcs)]}
}

// holders groups the partition's leases by call site, most leases first.
func (p *Pool) holders(part int) []Holder {
	now := time.Now()
	by := map[string]*Holder{}
	var out []*Holder
	for _, l := range p.eng.Leases() {
		if l.Part != part {
			continue
		}
		site, fn := callSite(frames(l.PCs))
		h := by[site]
		if h == nil {
			h = &Holder{CallSite: site, Function: fn}
			by[site] = h
			out = append(out, h)
		}
		h.Count++
		h.Oldest = max(h.Oldest, now.Sub(l.Acquired))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Oldest > out[j].Oldest
	})
	hs := make([]Holder, len(out))
	for i, h := range out {
		hs[i] = *h
	}
	return hs
}

// scan revokes leases held past MaxHold and reports suspects.
func (p *Pool) scan(now time.Time) {
	for _, l := range p.eng.Leases() {
		cfg := p.parts[l.Part].cfg
		age := now.Sub(l.Acquired)
		if cfg.MaxHold > 0 && age > cfg.MaxHold {
			p.end(l.Slot, l.Gen, engine.Revoke, ReclaimMaxHold, LeakMaxHold)
			continue
		}
		// A lease busy in a statement is not a suspect, however long the
		// statement; one busy only because its rows are with the holder is.
		idle := !l.Busy || l.Slot.Res.rowsOpen.Load()
		if cfg.SuspectAfter > 0 && age > cfg.SuspectAfter && idle && !l.Suspected && p.eng.MarkSuspected(l.Slot, l.Gen) {
			p.report(LeakSuspected, l)
		}
	}
}

// leakSites counts a partition's leak events by the call site that
// acquired the lease, so that metrics can sum one bad line over every
// replica of a service. Call sites are lines of code, so they are few; a
// cap keeps a pathological program from growing the map without bound.
type leakSites struct {
	mu    sync.Mutex
	sites map[string]*Counts[LeakKind]
}

// maxLeakSites bounds the call sites counted per partition; the events of
// any further site are counted under OtherCallSites.
const maxLeakSites = 100

// OtherCallSites is the call site under which LeakSites counts events of
// the call sites beyond the hundredth of a partition.
const OtherCallSites = "other"

func (s *leakSites) count(site string, kind LeakKind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sites == nil {
		s.sites = make(map[string]*Counts[LeakKind])
	}
	c := s.sites[site]
	if c == nil {
		if len(s.sites) >= maxLeakSites {
			site = OtherCallSites
			c = s.sites[site]
		}
		if c == nil {
			c = &Counts[LeakKind]{}
			s.sites[site] = c
		}
	}
	c.n[kind]++
}

// snapshot returns the counts, sorted by call site.
func (s *leakSites) snapshot() []LeakSite {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LeakSite, 0, len(s.sites))
	for site, c := range s.sites {
		out = append(out, LeakSite{CallSite: site, Leaks: *c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CallSite < out[j].CallSite })
	return out
}
