package engine

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/poolguard/poolguard/internal/wait"
)

var (
	modelSeed  = flag.Uint64("model.seed", 0, "run the engine model test with this seed only")
	modelSeeds = flag.Int("model.seeds", 120, "how many seeds the engine model test runs")
	modelSteps = flag.Int("model.steps", 250, "random steps per seed in the engine model test")
)

// TestModel drives an engine with random operations from a seeded, and so
// reproducible, schedule, and checks after every step that the engine
// agrees with the test's own bookkeeping and keeps its invariants. Waiters
// run in goroutines; everything else is done by the test goroutine, so the
// outcome of each step is known. A failure prints the seed: rerun it with
// -model.seed.
func TestModel(t *testing.T) {
	seeds := make([]uint64, 0, *modelSeeds)
	if *modelSeed != 0 {
		seeds = append(seeds, *modelSeed)
	} else {
		base := uint64(time.Now().UnixNano())
		for i := range *modelSeeds {
			seeds = append(seeds, base+uint64(i))
		}
		if testing.Short() {
			seeds = seeds[:min(len(seeds), 20)]
		}
	}
	for _, seed := range seeds {
		m := newModel(t, seed)
		m.run(*modelSteps)
		if t.Failed() {
			return
		}
	}
}

type mWaiter struct {
	ctx *manualCtx
	ch  <-chan outcome
}

type mHolder struct {
	part int
	gen  uint64
}

type model struct {
	t    *testing.T
	seed uint64
	rng  *rand.Rand
	step int
	op   string
	cfg  Config
	e    *Engine[*fakeRes]

	idle     [][]*testSlot // per partition, least recently used first
	holders  map[*testSlot]mHolder
	opening  []int       // partitions of grants whose resource is still to open
	planned  []int       // partitions of opens planned by Maintain
	closing  []*testSlot // resources to close, then call Closed
	waiters  [][]*mWaiter
	paused   []bool
	closed   bool
	resource int
	fresh    *fakeRes // opened by Opened and not yet seen in the idle list
}

func newModel(t *testing.T, seed uint64) *model {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cfg := Config{MaxConns: 1 + rng.IntN(6)}
	left := cfg.MaxConns
	for i := range 1 + rng.IntN(4) {
		p := PartConfig{Name: fmt.Sprintf("p%d", i), Max: 1 + rng.IntN(cfg.MaxConns), MaxWaiting: rng.IntN(4)}
		p.Guaranteed = rng.IntN(min(p.Max, left) + 1)
		left -= p.Guaranteed
		cfg.Parts = append(cfg.Parts, p)
	}
	m := &model{t: t, seed: seed, rng: rng, cfg: cfg, holders: map[*testSlot]mHolder{}}
	e, err := New[*fakeRes](cfg)
	if err != nil {
		m.failf("random config %+v is invalid: %v", cfg, err)
	}
	m.e = e
	n := len(cfg.Parts)
	m.idle, m.waiters, m.paused = make([][]*testSlot, n), make([][]*mWaiter, n), make([]bool, n)
	return m
}

func (m *model) failf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("seed %d (rerun with -model.seed=%d), step %d %s, config %+v: %s",
		m.seed, m.seed, m.step, m.op, m.cfg, fmt.Sprintf(format, args...))
}

func (m *model) run(steps int) {
	defer m.cancelWaiters() // leave no goroutine behind, even on failure
	ops := []struct {
		weight int
		name   string
		do     func()
	}{
		{8, "try acquire", m.tryAcquire},
		{4, "wait", m.wait},
		{8, "release", m.release},
		{2, "revoke", m.revoke},
		{2, "race", m.race},
		{5, "open", m.open},
		{3, "closed", m.closedOne},
		{2, "cancel", m.cancelOne},
		{1, "pause", m.pause},
		{2, "maintain", m.maintain},
		{3, "opened", m.opened},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	closeAt := -1
	if m.rng.IntN(4) == 0 {
		closeAt = m.rng.IntN(steps)
	}
	for m.step = 0; m.step < steps; m.step++ {
		if m.step == closeAt {
			m.op = "close"
			m.closeEngine()
		} else {
			r := m.rng.IntN(total)
			for _, o := range ops {
				if r -= o.weight; r < 0 {
					m.op = o.name
					o.do()
					break
				}
			}
		}
		m.check()
	}
	m.op = "drain"
	m.drain()
}

func (m *model) part() int { return m.rng.IntN(len(m.cfg.Parts)) }

func (m *model) held(p int) int {
	n := 0
	for _, h := range m.holders {
		if h.part == p {
			n++
		}
	}
	for _, q := range m.opening {
		if q == p {
			n++
		}
	}
	return n
}

func (m *model) total() int {
	n := len(m.holders) + len(m.opening) + len(m.planned) + len(m.closing)
	for _, idle := range m.idle {
		n += len(idle)
	}
	return n
}

// admissible is the admission rule, computed from the test's bookkeeping.
func (m *model) admissible(p int) bool {
	held, all, reserved := m.held(p), 0, 0
	for q, c := range m.cfg.Parts {
		h := m.held(q)
		all += h
		reserved += max(0, c.Guaranteed-h)
	}
	c := m.cfg.Parts[p]
	return held < c.Max && (held < c.Guaranteed || all+1+reserved <= m.cfg.MaxConns)
}

// grantable reports whether p may take a lease now and a resource is there
// for it: an idle one anywhere, or a free place under MaxConns.
func (m *model) grantable(p int) bool {
	if !m.admissible(p) {
		return false
	}
	if m.total() < m.cfg.MaxConns {
		return true
	}
	return slices.ContainsFunc(m.idle, func(idle []*testSlot) bool { return len(idle) > 0 })
}

// expect predicts the outcome of an acquire on p that may wait: a grant,
// a refusal, or ReasonNone with queued true.
func (m *model) expect(p int, mayWait bool) (r Reason, grant, queued bool) {
	switch {
	case m.closed:
		return ReasonClosed, false, false
	case m.paused[p]:
		return ReasonPaused, false, false
	case len(m.waiters[p]) == 0 && m.grantable(p):
		return ReasonNone, true, false
	case len(m.waiters[p]) >= m.cfg.Parts[p].MaxWaiting:
		return ReasonQueueFull, false, false
	case !mayWait:
		return ReasonDeadline, false, false
	}
	return ReasonNone, false, true
}

// take records a grant on p, checking it against the bookkeeping.
func (m *model) take(p int, g Grant[*fakeRes], lifo bool) {
	if s := g.Slot; s != nil {
		if g.Evict != nil {
			m.failf("a grant carries both a slot and a slot to evict")
		}
		if _, dup := m.holders[s]; dup {
			m.failf("slot granted to partition %d while another holder has it", p)
		}
		i := slices.Index(m.idle[p], s)
		if i < 0 {
			m.failf("partition %d was granted a slot that was not idle in it", p)
		}
		if lifo && i != len(m.idle[p])-1 {
			m.failf("partition %d was granted idle slot %d of %d, not the most recent", p, i, len(m.idle[p]))
		}
		m.idle[p] = slices.Delete(m.idle[p], i, i+1)
		if s.Part() != p || s.Enter(s.Gen()) != EnterOK || s.Exit(s.Gen()) {
			m.failf("granted slot of partition %d is not usable by its holder", s.Part())
		}
		m.holders[s] = mHolder{p, s.Gen()}
		return
	}
	if v := g.Evict; v != nil {
		q := v.Part()
		i := slices.Index(m.idle[q], v)
		switch {
		case q == p:
			m.failf("partition %d evicts a slot of its own", p)
		case i >= 0:
			m.idle[q] = slices.Delete(m.idle[q], i, i+1)
		case v.Res == m.fresh && m.fresh != nil:
			m.fresh = nil
		default:
			m.failf("partition %d evicts a slot of partition %d that was not idle", p, q)
		}
	}
	m.opening = append(m.opening, p)
}

func (m *model) tryAcquire() {
	p := m.part()
	r, grant, _ := m.expect(p, false)
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	g, got, _ := m.e.Acquire(ctx, p, nil)
	if got != r || (g.Slot != nil || g.Evict != nil) && !grant {
		m.failf("acquire on %d: got %v %+v, want reason %v grant %v", p, got, g, r, grant)
	}
	if grant {
		m.take(p, g, true)
	}
}

func (m *model) wait() {
	p := m.part()
	r, grant, queued := m.expect(p, true)
	err := context.Canceled
	if m.rng.IntN(2) == 0 {
		err = context.DeadlineExceeded
	}
	w := &mWaiter{ctx: newManualCtx(err)}
	w.ch = acquireAsync(m.e, w.ctx, p)
	if queued {
		m.waiters[p] = append(m.waiters[p], w)
		wait.Until(m.t, fmt.Sprintf("seed %d step %d: waiter queued", m.seed, m.step), func() bool {
			return m.e.Stats().Parts[p].Waiting == len(m.waiters[p])
		})
		return
	}
	o := recv(m.t, w.ch)
	if o.r != r {
		m.failf("wait on %d: got %v, want %v (grant %v)", p, o.r, r, grant)
	}
	if grant {
		m.take(p, o.g, true)
	}
}

// settle collects the waiters the engine served during the last step: the
// heads of their queues, in order.
func (m *model) settle() {
	st := m.e.Stats()
	for p, ps := range st.Parts {
		n := len(m.waiters[p]) - ps.Waiting
		if n < 0 {
			m.failf("partition %d has %d waiting, more than the %d queued", p, ps.Waiting, len(m.waiters[p]))
		}
		for _, w := range m.waiters[p][:n] {
			o := recv(m.t, w.ch)
			if o.r != ReasonNone {
				m.failf("a waiter of partition %d left with %v when none should", p, o.r)
			}
			m.take(p, o.g, false)
		}
		m.waiters[p] = m.waiters[p][n:]
	}
}

// anyHolder returns a holder in a reproducible order, or nil.
func (m *model) anyHolder() *testSlot {
	if len(m.holders) == 0 {
		return nil
	}
	ss := make([]*testSlot, 0, len(m.holders))
	for s := range m.holders {
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b *testSlot) int { return a.Res.id - b.Res.id })
	return ss[m.rng.IntN(len(ss))]
}

func (m *model) release() {
	s := m.anyHolder()
	if s == nil {
		return
	}
	h := m.holders[s]
	busy := m.rng.IntN(5) == 0 // released with rows still open
	if busy && s.Enter(h.gen) != EnterOK {
		m.failf("Enter failed on a held slot")
	}
	reuse := m.rng.IntN(4) != 0
	expired := s.Expired(time.Now())
	en := m.e.End(s, h.gen, Release, reuse)
	switch {
	case !en.Ended || en.Lease.Slot != s || en.Lease.Gen != h.gen || en.Lease.Part != h.part:
		m.failf("End(Release) = %+v", en)
	case busy && (!en.Taken || en.Action != Interrupt):
		m.failf("releasing a lease with a call in flight: taken %v action %v, want an interrupt", en.Taken, en.Action)
	case !busy && en.Taken:
		m.failf("a release was counted as taken")
	case !busy && (en.Action == Keep) != (reuse && !m.closed && !expired):
		m.failf("End(Release, reuse %v) action %v", reuse, en.Action)
	}
	m.ended(s, h, en)
	m.settle()
}

// ended follows up an ending of s's lease h as the pool would, and checks
// that the lease cannot be ended again.
func (m *model) ended(s *testSlot, h mHolder, en Ending[*fakeRes]) {
	delete(m.holders, s)
	switch en.Action {
	case Keep:
		m.idle[h.part] = append(m.idle[h.part], s)
	case Detached:
		// Out of the pool with its holder; its place is free already.
	case Interrupt:
		if !s.Exit(h.gen) {
			m.failf("the interrupted holder's Exit did not report finish")
		}
		fallthrough
	case Close:
		m.closing = append(m.closing, s)
	}
	if s.Enter(h.gen) == EnterOK {
		m.failf("the handle of an ended lease entered its slot")
	}
	for _, how := range []How{Release, Discard, Revoke, Abandon, Detach} {
		if again := m.e.End(s, h.gen, how, true); again.Ended {
			m.failf("a lease ended twice (the second by %v)", how)
		}
	}
}

// revoke takes a lease from its holder, with or without a call in flight,
// as MaxHold, a proven leak or a failed health check would.
func (m *model) revoke() {
	s := m.anyHolder()
	if s == nil {
		return
	}
	h := m.holders[s]
	how := []How{Discard, Revoke, Abandon, Detach}[m.rng.IntN(4)]
	busy := (how == Revoke || how == Abandon) && m.rng.IntN(2) == 0
	if busy && s.Enter(h.gen) != EnterOK {
		m.failf("Enter failed on a held slot")
	}
	en := m.e.End(s, h.gen, how, true)
	want := Close
	switch {
	case busy && how == Revoke:
		want = Interrupt
	case how == Detach:
		want = Detached
	}
	if !en.Ended || !en.Taken || en.Action != want || en.Lease.Slot != s {
		m.failf("End(%v) busy %v = %+v, want taken and action %v", how, busy, en, want)
	}
	if busy && how == Abandon && s.Exit(h.gen) {
		m.failf("an abandoned lease asked its (unreachable) holder to finish")
	}
	m.ended(s, h, en)
	m.settle()
}

// race ends one lease from three goroutines at once, a release, a revocation
// and a proven leak, as happens when MaxHold fires while the holder releases
// and the collector finds the handle: exactly one ends it.
func (m *model) race() {
	s := m.anyHolder()
	if s == nil {
		return
	}
	h := m.holders[s]
	busy := m.rng.IntN(2) == 0
	if busy && s.Enter(h.gen) != EnterOK {
		m.failf("Enter failed on a held slot")
	}
	hows := []How{Release, Revoke, Abandon}
	endings := make([]Ending[*fakeRes], len(hows))
	var wg sync.WaitGroup
	for i, how := range hows {
		wg.Go(func() { endings[i] = m.e.End(s, h.gen, how, true) })
	}
	wg.Wait()
	var won []Ending[*fakeRes]
	for _, en := range endings {
		if en.Ended {
			won = append(won, en)
		}
	}
	if len(won) != 1 {
		m.failf("%d of a release, a revocation and an abandonment ended the same lease", len(won))
	}
	en := won[0]
	if en.Action == Interrupt != (busy && en.Taken && en.Action != Close) {
		m.failf("race ending %+v with busy %v", en, busy)
	}
	if busy && en.Action == Keep {
		m.failf("a lease with a call in flight went back to its partition")
	}
	if busy && en.Action == Close {
		// Abandoned under a call: the holder is gone, so its Exit must not
		// be asked to finish.
		if s.Exit(h.gen) {
			m.failf("an abandoned lease asked its holder to finish")
		}
	}
	m.ended(s, h, en)
	m.settle()
}

// pick removes a random partition from the list *ps and returns it.
func (m *model) pick(ps *[]int) (int, bool) {
	if len(*ps) == 0 {
		return 0, false
	}
	i := m.rng.IntN(len(*ps))
	p := (*ps)[i]
	*ps = slices.Delete(*ps, i, i+1)
	return p, true
}

func (m *model) open() {
	p, ok := m.pick(&m.opening)
	if !ok {
		return
	}
	if m.rng.IntN(4) == 0 {
		m.e.OpenFailed(p)
		m.settle()
		return
	}
	m.resource++
	var expires time.Time
	if m.rng.IntN(5) == 0 {
		expires = time.Now().Add(-time.Second)
	}
	s := m.e.Opened(p, &fakeRes{id: m.resource}, expires, nil)
	if _, dup := m.holders[s]; dup || s.Part() != p {
		m.failf("Opened returned a slot already held, or of partition %d", s.Part())
	}
	m.holders[s] = mHolder{p, s.Gen()}
}

func (m *model) closedOne() {
	if len(m.closing) == 0 {
		return
	}
	i := m.rng.IntN(len(m.closing))
	s := m.closing[i]
	m.closing = slices.Delete(m.closing, i, i+1)
	m.e.Closed(s)
	if m.rng.IntN(4) == 0 {
		m.e.Closed(s) // told twice: must change nothing
	}
	m.settle()
}

func (m *model) cancelOne() {
	var ws []*mWaiter
	for _, q := range m.waiters {
		ws = append(ws, q...)
	}
	if len(ws) == 0 {
		return
	}
	w := ws[m.rng.IntN(len(ws))]
	w.ctx.end()
	want := ReasonCanceled
	if w.ctx.err == context.DeadlineExceeded {
		want = ReasonTimeout
	}
	if o := recv(m.t, w.ch); o.r != want {
		m.failf("a waiter whose context ended got %v, want %v", o.r, want)
	}
	for p, q := range m.waiters {
		m.waiters[p] = slices.DeleteFunc(q, func(x *mWaiter) bool { return x == w })
	}
	m.settle()
}

// failWaiters checks that every waiter of partition p left with reason r.
func (m *model) failWaiters(p int, r Reason) {
	for _, w := range m.waiters[p] {
		if o := recv(m.t, w.ch); o.r != r {
			m.failf("waiter of partition %d got %v, want %v", p, o.r, r)
		}
	}
	m.waiters[p] = nil
}

func (m *model) pause() {
	p := m.part()
	m.paused[p] = !m.paused[p]
	m.e.SetPaused(p, m.paused[p])
	if m.paused[p] {
		m.failWaiters(p, ReasonPaused)
	}
}

func (m *model) maintain() {
	now := time.Now()
	if m.rng.IntN(2) == 0 {
		now = now.Add(2 * time.Hour)
	}
	timeout := time.Duration(m.rng.IntN(2)) * time.Hour
	mins := make([]Minimum, len(m.cfg.Parts))
	for i, c := range m.cfg.Parts {
		mins[i] = Minimum{Conns: m.rng.IntN(c.Max + 1), Idle: m.rng.IntN(2)}
	}
	have := make([]int, len(mins))
	idle := make([]int, len(mins))
	for i := range have {
		have[i] = m.held(i) + len(m.idle[i])
		idle[i] = len(m.idle[i])
	}
	u := m.e.Maintain(now, timeout, mins)
	for _, s := range u.Close {
		p := s.Part()
		i := slices.Index(m.idle[p], s)
		if i < 0 {
			m.failf("Maintain closes a slot that is not idle")
		}
		stale := timeout > 0 && have[p] > mins[p].Conns && idle[p] > mins[p].Idle
		if !s.Expired(now) && !stale {
			m.failf("Maintain closes a live idle slot of partition %d (has %d, %d idle, minimum %+v)", p, have[p], idle[p], mins[p])
		}
		if !s.Expired(now) {
			have[p]--
			idle[p]--
		}
		m.idle[p] = slices.Delete(m.idle[p], i, i+1)
		m.closing = append(m.closing, s)
	}
	for _, p := range u.Open {
		planned := count(m.planned, p)
		if m.held(p)+len(m.idle[p])+planned >= mins[p].Conns && len(m.idle[p])+planned >= mins[p].Idle {
			m.failf("Maintain plans an open for partition %d which has %d held, %d idle, %d planned, minimum %+v",
				p, m.held(p), len(m.idle[p]), planned, mins[p])
		}
		m.planned = append(m.planned, p)
	}
}

func count(xs []int, x int) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

func (m *model) opened() {
	p, ok := m.pick(&m.planned)
	if !ok {
		return
	}
	if m.rng.IntN(4) == 0 {
		m.e.OpenIdleFailed(p)
		m.settle()
		return
	}
	m.resource++
	s := &fakeRes{id: m.resource}
	if c := m.e.OpenedIdle(p, s, time.Time{}); c != nil {
		if !m.closed || c.Res != s {
			m.failf("OpenedIdle handed back its resource on an open engine")
		}
		m.closing = append(m.closing, c)
		return
	}
	if m.closed {
		m.failf("OpenedIdle kept a resource after Close")
	}
	// Find the new slot: it may already have gone to a waiter.
	var slot *testSlot
	m.e.mu.Lock()
	for x := range m.e.live() {
		if x.Res == s {
			slot = x
		}
	}
	m.e.mu.Unlock()
	if slot == nil {
		// Evicted at once by a waiter of another partition.
		m.fresh = s
		m.settle()
		if m.fresh != nil {
			m.failf("Opened did not register the resource for partition %d", p)
		}
		return
	}
	if slot.Part() != p {
		m.failf("Opened registered the resource for partition %d, want %d", slot.Part(), p)
	}
	m.idle[p] = append(m.idle[p], slot)
	m.settle()
}

func (m *model) closeEngine() {
	idle := m.e.Close()
	m.closed = true
	var want []*testSlot
	for p, q := range m.idle {
		want = append(want, q...)
		m.idle[p] = nil
		m.failWaiters(p, ReasonClosed)
	}
	if len(idle) != len(want) {
		m.failf("Close returned %d idle slots, want %d", len(idle), len(want))
	}
	for _, s := range want {
		if !slices.Contains(idle, s) {
			m.failf("Close did not return an idle slot")
		}
	}
	m.closing = append(m.closing, idle...)
}

func (m *model) cancelWaiters() {
	for p, q := range m.waiters {
		for _, w := range q {
			w.ctx.end()
			if o := recv(m.t, w.ch); o.r == ReasonNone && !m.t.Failed() {
				// Served as it left: give the grant back.
				m.take(p, o.g, false)
			}
		}
		m.waiters[p] = nil
	}
}

// drain ends everything, then checks that no place and no lease was lost.
func (m *model) drain() {
	m.cancelWaiters()
	m.check()
	for len(m.opening)+len(m.holders)+len(m.planned)+len(m.closing) > 0 {
		m.open()
		m.release()
		m.opened()
		m.closedOne()
		m.check()
	}
	st := m.e.Stats()
	idle := 0
	for p, ps := range st.Parts {
		idle += ps.Idle
		if ps.Held != 0 {
			m.failf("partition %d still holds %d after everything was released", p, ps.Held)
		}
	}
	if st.Total != idle {
		m.failf("Total %d with %d idle and nothing held: places were lost", st.Total, idle)
	}
	if !m.closed {
		m.closeEngine()
	}
	for len(m.closing) > 0 {
		m.closedOne()
	}
	if st := m.e.Stats(); st.Total != 0 {
		m.failf("Total %d after Close and closing everything", st.Total)
	}
}

// check compares the engine with the bookkeeping and checks the
// invariants.
func (m *model) check() {
	m.t.Helper()
	st := m.e.Stats()
	if st.Total != m.total() || st.Total > m.cfg.MaxConns {
		m.failf("Total %d, bookkeeping %d, MaxConns %d", st.Total, m.total(), m.cfg.MaxConns)
	}
	sum := 0
	for p, ps := range st.Parts {
		c := m.cfg.Parts[p]
		sum += ps.Held
		if ps.Held != m.held(p) || ps.Idle != len(m.idle[p]) || ps.Waiting != len(m.waiters[p]) || ps.Paused != m.paused[p] {
			m.failf("partition %d: engine held/idle/waiting/paused %d/%d/%d/%v, bookkeeping %d/%d/%d/%v",
				p, ps.Held, ps.Idle, ps.Waiting, ps.Paused, m.held(p), len(m.idle[p]), len(m.waiters[p]), m.paused[p])
		}
		if ps.Held > c.Max {
			m.failf("partition %d holds %d, above its Max %d", p, ps.Held, c.Max)
		}
		leased := 0
		for _, h := range m.holders {
			if h.part == p {
				leased++
			}
		}
		if ps.OldestAcquired.IsZero() != (leased == 0) {
			m.failf("partition %d has %d leases but OldestAcquired %v", p, leased, ps.OldestAcquired)
		}
		// Nobody waits while the engine could serve them.
		if len(m.waiters[p]) > 0 && m.grantable(p) {
			m.failf("partition %d has waiters although it could be served", p)
		}
		// Below its guarantee, with nothing closing or opening in the
		// background, a partition with no queue gets a grant at once.
		if !m.closed && !m.paused[p] && len(m.waiters[p]) == 0 && m.held(p) < c.Guaranteed &&
			len(m.closing) == 0 && len(m.planned) == 0 && !m.grantable(p) {
			m.failf("partition %d below its guarantee could not be served", p)
		}
	}
	if sum > m.cfg.MaxConns {
		m.failf("leases %d above MaxConns %d", sum, m.cfg.MaxConns)
	}
	m.e.mu.Lock()
	committed := 0
	for _, p := range m.e.parts {
		committed += max(int(p.held.Load()), p.cfg.Guaranteed)
	}
	waiting := int(m.e.waiting.Load())
	m.e.mu.Unlock()
	if committed > m.cfg.MaxConns {
		m.failf("leases and unused guarantees add up to %d, above MaxConns %d", committed, m.cfg.MaxConns)
	}
	nw := 0
	for _, q := range m.waiters {
		nw += len(q)
	}
	if waiting != nw {
		m.failf("engine counts %d waiting, bookkeeping %d", waiting, nw)
	}
	if ls := m.e.Leases(); len(ls) != len(m.holders) {
		m.failf("Leases lists %d, bookkeeping %d holders", len(ls), len(m.holders))
	}
	for s, h := range m.holders {
		if s.Gen() != h.gen || s.Busy(h.gen) {
			m.failf("a holder's lease changed under it: gen %d, want %d", s.Gen(), h.gen)
		}
	}
}
