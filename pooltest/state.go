package pooltest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/internal/hook"
)

// state is what pooltest knows of one pool: the backends it used, the
// faults installed and what fired. It is the pool's hook.Faults, installed
// while NoLeaks, Inject or FillQueue need it.
type state struct {
	pool *poolguard.Pool
	refs int // guarded by registry.mu

	mu     sync.Mutex
	pids   map[uint32]time.Time // backends that ran a statement for the pool, when first seen
	faults *Faults
	log    []string // faults that fired
}

var registry struct {
	mu     sync.Mutex
	states map[*poolguard.Pool]*state
}

// track returns the pool's state, installing it on the pool if needed.
// Each call must be paired with a call to release.
func track(pool *poolguard.Pool) *state {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	st := registry.states[pool]
	if st == nil {
		if registry.states == nil {
			registry.states = map[*poolguard.Pool]*state{}
		}
		st = &state{pool: pool, pids: map[uint32]time.Time{}}
		registry.states[pool] = st
		hook.SetFaults(pool, st)
	}
	st.refs++
	return st
}

// release undoes a call to track; the last removes the hook.
func (st *state) release() {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if st.refs--; st.refs == 0 {
		delete(registry.states, st.pool)
		hook.SetFaults(st.pool, nil)
	}
}

func (st *state) setFaults(fs *Faults) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.faults = fs
}

func (st *state) current() *Faults {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.faults
}

// fired records that a fault fired.
func (st *state) fired(format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.log = append(st.log, fmt.Sprintf(format, args...))
}

func (st *state) firedList() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.log...)
}

// firedText lists the faults that fired, for a failure message.
func (st *state) firedText() string {
	log := st.firedList()
	if len(log) == 0 {
		return ""
	}
	return "pooltest: faults that fired during the test:\n\t" + strings.Join(log, "\n\t")
}

// backends returns the backends that ran a statement for the pool, and
// when each was first seen.
func (st *state) backends() (pids []int64, seen []time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for pid, t := range st.pids {
		pids = append(pids, int64(pid))
		seen = append(seen, t)
	}
	return pids, seen
}

// bypass marks the context of pooltest's own acquires (FillQueue), which
// faults must neither count nor fail.
type bypass struct{}

func bypassed(ctx context.Context) bool { return ctx.Value(bypass{}) != nil }

// Acquire implements hook.Faults.
func (st *state) Acquire(ctx context.Context, partition string) error {
	if fs := st.current(); fs != nil && !bypassed(ctx) {
		return fs.acquire(partition)
	}
	return nil
}

// Call implements hook.Faults.
func (st *state) Call(ctx context.Context, partition string, pid uint32, sql string) error {
	st.mu.Lock()
	if _, ok := st.pids[pid]; !ok {
		st.pids[pid] = time.Now()
	}
	fs := st.faults
	st.mu.Unlock()
	if fs != nil && !bypassed(ctx) {
		return fs.call(ctx, partition, pid, sql)
	}
	return nil
}

// adminConfig returns a configuration for connections of pooltest's own to
// the pool's server, which it uses to look at and act on the pool's
// backends from outside.
func adminConfig(pool *poolguard.Pool) *pgx.ConnConfig {
	cfg := pool.Config().ConnConfig
	cfg.RuntimeParams["application_name"] = "pooltest"
	return cfg
}
