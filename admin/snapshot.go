package admin

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/poolguard/poolguard"
)

// Snapshot is the pool's state as served as JSON by the handler's
// snapshot endpoint.
type Snapshot struct {
	Time       time.Time   `json:"time"`
	MaxConns   int         `json:"maxConns"`
	TotalConns int         `json:"totalConns"`
	Partitions []Partition `json:"partitions"`
	Leases     []Lease     `json:"leases"`    // oldest first
	CallSites  []CallSite  `json:"callSites"` // most leases first
	// Activity says whether the leases' current queries could be read
	// from pg_stat_activity.
	Activity Activity `json:"activity"`
	// Actions reports whether actions are enabled (a token is configured).
	Actions bool `json:"actions"`
	// ReadAuth reports whether reading the snapshot needs a token.
	ReadAuth bool `json:"readAuth"`
}

// Partition is one partition's statistics.
type Partition struct {
	Name               string           `json:"name"`
	InUse              int              `json:"inUse"`
	Idle               int              `json:"idle"`
	Guaranteed         int              `json:"guaranteed"`
	Max                int              `json:"max"`
	Borrowed           int              `json:"borrowed"`
	Waiting            int              `json:"waiting"`
	MaxWaiting         int              `json:"maxWaiting"`
	Paused             bool             `json:"paused"`
	OldestLeaseSeconds float64          `json:"oldestLeaseSeconds"`
	Acquires           int64            `json:"acquires"`
	WaitedAcquires     int64            `json:"waitedAcquires"`
	Opened             int64            `json:"opened"`
	OpenFailures       int64            `json:"openFailures"`
	Closed             int64            `json:"closed"`
	Rejected           map[string]int64 `json:"rejected"` // by reason
	Leaks              map[string]int64 `json:"leaks"`    // by kind
	LeaksProven        int64            `json:"leaksProven"`
	Reclaimed          map[string]int64 `json:"reclaimed"` // by reason
}

// Lease is one lease, with what its backend is doing.
type Lease struct {
	Partition  string    `json:"partition"`
	Acquired   time.Time `json:"acquired"`
	AgeSeconds float64   `json:"ageSeconds"`
	CallSite   string    `json:"callSite"`
	Function   string    `json:"function"`
	Stack      []Frame   `json:"stack"`
	PID        uint32    `json:"pid"`
	State      string    `json:"state"` // the pool's view: idle, active or in_transaction
	Suspected  bool      `json:"suspected"`

	// From pg_stat_activity, when it could be read: the backend's state,
	// its current or last statement (redacted, truncated), when that
	// started and how long ago, by the server's clock.
	BackendState string     `json:"backendState,omitempty"`
	Query        string     `json:"query,omitempty"`
	QueryStart   *time.Time `json:"queryStart,omitempty"`
	QuerySeconds float64    `json:"querySeconds,omitempty"`
}

// Frame is one frame of the stack that acquired a lease.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// CallSite groups the leases of one partition acquired at one call site.
type CallSite struct {
	Partition     string  `json:"partition"`
	CallSite      string  `json:"callSite"`
	Function      string  `json:"function"`
	Count         int     `json:"count"`
	OldestSeconds float64 `json:"oldestSeconds"`
}

// Activity reports on the pg_stat_activity query.
type Activity struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"` // why the queries are missing
	// Pooler reports that the pool connects through a connection pooler
	// such as PgBouncer: the leases' PIDs are the pooler's, and joining
	// them with the server's backends would be wrong, so it is not done.
	Pooler bool `json:"pooler,omitempty"`
}

// snapshots shares one snapshot among the requests that want one at about
// the same time: a snapshot is served for a while after it was taken
// (half the page's refresh interval), and while one is being taken, the
// requests that arrive wait for it rather than take their own. So however
// many pages poll, and however fast, the handler reads pg_stat_activity
// over at most one connection at a time. The snapshot is taken on a
// goroutine of its own, so each request can give up when its context ends
// without cutting short the others'.
type snapshots struct {
	take func(context.Context) Snapshot
	ttl  time.Duration

	mu      sync.Mutex
	last    Snapshot
	expires time.Time // when last stops being served
	flight  *flight   // the snapshot being taken, if any
}

// A flight is a snapshot being taken.
type flight struct {
	done chan struct{} // closed when snap is set
	snap Snapshot
}

// get returns a recent snapshot, or the error of ctx if it ends first.
func (c *snapshots) get(ctx context.Context) (Snapshot, error) {
	c.mu.Lock()
	if time.Now().Before(c.expires) {
		defer c.mu.Unlock()
		return c.last, nil
	}
	f := c.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flight = f
		go c.run(f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.snap, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
}

func (c *snapshots) run(f *flight) {
	// Bounded by Options.ActivityTimeout: see activityReader.get.
	f.snap = c.take(context.Background())
	c.mu.Lock()
	if c.flight == f { // not forgotten meanwhile
		c.last, c.expires, c.flight = f.snap, time.Now().Add(c.ttl), nil
	}
	c.mu.Unlock()
	close(f.done)
}

// forget drops the snapshot served and the one being taken, which may
// predate an action, so that the next request sees the action's effect.
// The flight forgotten still answers the requests that wait for it.
func (c *snapshots) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expires, c.flight = time.Time{}, nil
}

// snapshot gathers the pool's state. The pool is read without acquiring
// anything, so it works when the pool is exhausted.
func (h *handler) snapshot(ctx context.Context) Snapshot {
	st := h.pool.Stats()
	s := Snapshot{
		Time: time.Now(), MaxConns: st.MaxConns, TotalConns: st.TotalConns,
		Partitions: make([]Partition, 0, len(st.Partitions)),
		Leases:     []Lease{},
		CallSites:  []CallSite{},
		Actions:    h.tokenHash != nil,
		ReadAuth:   h.readHash != nil,
	}
	for _, p := range st.Partitions {
		s.Partitions = append(s.Partitions, partition(p))
	}
	leases := h.pool.Leases()
	pids := make([]uint32, len(leases))
	for i, l := range leases {
		pids[i] = l.PID
		s.Leases = append(s.Leases, lease(l))
	}
	s.CallSites = callSites(s.Leases)
	if len(leases) == 0 {
		s.Activity.OK = true
		return s
	}
	act, err := h.activity.get(ctx, pids)
	if err != nil {
		s.Activity.Error, s.Activity.Pooler = err.Error(), errors.Is(err, errBehindPooler)
		return s
	}
	s.Activity.OK = true
	for i := range s.Leases {
		l := &s.Leases[i]
		if a, ok := act[l.PID]; ok {
			l.BackendState, l.Query, l.QuerySeconds = a.state, RedactSQL(a.query, h.opts.MaxQueryLength), a.running
			if !a.start.IsZero() {
				l.QueryStart = &a.start
			}
		}
	}
	return s
}

func partition(p poolguard.PartitionStats) Partition {
	out := Partition{
		Name: p.Name, InUse: p.InUse, Idle: p.Idle, Guaranteed: p.Guaranteed, Max: p.Max,
		Borrowed: p.Borrowed, Waiting: p.Waiting, MaxWaiting: p.MaxWaiting, Paused: p.Paused,
		OldestLeaseSeconds: p.OldestLease.Seconds(),
		Acquires:           p.Acquires, WaitedAcquires: p.WaitedAcquires,
		Opened: p.Opened, OpenFailures: p.OpenFailures, Closed: p.Closed,
		Rejected:    byName(p.Rejected, poolguard.RejectReasons()),
		Leaks:       byName(p.Leaks, poolguard.LeakKinds()),
		LeaksProven: p.LeaksProven(),
		Reclaimed:   byName(p.Reclaimed, poolguard.ReclaimReasons()),
	}
	return out
}

// byName maps each of keys' names to its count.
func byName[K interface {
	poolguard.LeakKind | poolguard.ReclaimReason | poolguard.RejectReason
	String() string
}](c poolguard.Counts[K], keys []K) map[string]int64 {
	m := make(map[string]int64, len(keys))
	for _, k := range keys {
		m[k.String()] = c.Of(k)
	}
	return m
}

func lease(l poolguard.LeaseInfo) Lease {
	out := Lease{
		Partition: l.Partition, Acquired: l.Acquired, AgeSeconds: l.Age.Seconds(),
		CallSite: l.CallSite, Function: l.Function, Stack: make([]Frame, len(l.Stack)),
		PID: l.PID, State: l.State.String(), Suspected: l.Suspected,
	}
	for i, f := range l.Stack {
		out.Stack[i] = Frame{Function: f.Function, File: f.File, Line: f.Line}
	}
	return out
}

// callSites groups leases by partition and call site, most leases first,
// then oldest first.
func callSites(ls []Lease) []CallSite {
	type key struct{ part, site string }
	by := map[key]int{}
	out := []CallSite{}
	for _, l := range ls {
		k := key{l.Partition, l.CallSite}
		i, ok := by[k]
		if !ok {
			i = len(out)
			by[k] = i
			out = append(out, CallSite{Partition: l.Partition, CallSite: l.CallSite, Function: l.Function})
		}
		out[i].Count++
		out[i].OldestSeconds = max(out[i].OldestSeconds, l.AgeSeconds)
	}
	slices.SortStableFunc(out, func(a, b CallSite) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(b.OldestSeconds, a.OldestSeconds)
	})
	return out
}
