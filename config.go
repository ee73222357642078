package poolguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/poolguard/poolguard/internal/engine"
)

// Config configures a Pool. Build it with ParseConfig, which sets the
// defaults, then adjust its fields before calling New. A zero duration
// disables the limit it names, unless its comment says otherwise.
type Config struct {
	// ConnConfig is how to connect. Required.
	ConnConfig *pgx.ConnConfig

	// MaxConns is the hard cap on connections to the server, over all
	// partitions: idle, in use, opening and closing.
	MaxConns int
	// MinConns is the number of connections the default partition keeps
	// open while idle. Partitions set their own (PartitionConfig.MinConns).
	MinConns int
	// MinIdleConns is the number of idle connections the default partition
	// keeps ready, in use or not, so that a burst does not wait for
	// connections to open; Partitions set their own. As pgxpool's, it is
	// restored at each HealthCheckPeriod, within MaxConns.
	MinIdleConns int
	// MaxWaiting bounds the wait queue of the default partition. Zero means
	// ten times the partition's Max; -1 means nobody waits: an acquire that
	// cannot be served at once fails with ErrQueueFull.
	MaxWaiting int

	// MaxConnLifetime closes connections older than this when they are
	// released or idle. MaxConnLifetimeJitter adds up to that much, at
	// random per connection, so connections opened together do not all
	// close together; zero means a tenth of MaxConnLifetime, -1 none.
	MaxConnLifetime       time.Duration
	MaxConnLifetimeJitter time.Duration
	// MaxConnIdleTime closes connections idle longer than this, down to
	// each partition's MinConns.
	MaxConnIdleTime time.Duration
	// HealthCheckPeriod is how often idle connections are checked against
	// these limits and MinConns is restored. Zero means one minute.
	HealthCheckPeriod time.Duration
	// PingAfterIdle pings a connection before handing it out when it was
	// idle longer than this, and replaces it if the ping fails. Zero means
	// one second; -1 never pings. ShouldPing, if set, decides instead.
	PingAfterIdle time.Duration
	// PingTimeout bounds that ping; zero means no bound but the caller's
	// context. A connection that does not answer in time is replaced.
	PingTimeout time.Duration

	// SuspectAfter reports a lease held longer than this with no statement
	// running (idle, or with its rows or batch results left open) as a
	// suspected leak, once, with the stack that acquired it.
	// Partitions may override it.
	SuspectAfter time.Duration
	// MaxHold revokes a lease of the default partition held longer than
	// this: the query in flight is cancelled, the connection destroyed and
	// later calls on the handle fail with ErrLeaseRevoked.
	MaxHold time.Duration

	// Partitions splits the pool into per-workload partitions (bulkheads).
	// Empty means one partition named "default" with the limits above.
	// Pool's own Acquire, With, WithTx, Exec, Query and QueryRow use the
	// first partition.
	Partitions []PartitionConfig

	// StackDepth is how many frames of the acquiring stack each lease
	// records. Zero means 8; -1 records none (call sites then read
	// "unknown"). Recording costs time on every acquire: see
	// docs/benchmarks.md.
	StackDepth int
	// DisableLeakTracking turns off the proof of leaks by garbage
	// collection (leases whose handle became unreachable without Release).
	DisableLeakTracking bool

	// CloseTimeout bounds how long Close waits for leases to be released
	// before it revokes them and reports them as leaks. Zero means 5 seconds.
	CloseTimeout time.Duration

	// Logger receives leak reports and suspect warnings. Nil means
	// slog.Default().
	Logger *slog.Logger
	// OnLeak, if set, is called for every leak event, in a goroutine of the
	// pool's; it must be safe for concurrent use.
	OnLeak func(LeakEvent)
	// The hooks below have pgxpool's names and meanings. Each that receives
	// a *pgx.Conn may use it only while it runs: the connection may belong
	// to another lease afterwards.

	// BeforeConnect, if set, is called before each new connection is opened,
	// with a copy of the partition's connection settings that it may change
	// (rotating credentials such as cloud IAM tokens).
	BeforeConnect func(context.Context, *pgx.ConnConfig) error
	// AfterConnect, if set, is called on each new connection before it is
	// first used.
	AfterConnect func(context.Context, *pgx.Conn) error
	// PrepareConn, if set, is called before a connection is handed out. If
	// it returns false the connection is closed; with a nil error the
	// acquire then tries another connection, with an error it fails with
	// that error. If it returns true and an error, the connection goes
	// back to the pool and the acquire fails with the error.
	PrepareConn func(context.Context, *pgx.Conn) (bool, error)
	// BeforeAcquire is called before a connection is handed out; false
	// closes it and the acquire tries another.
	//
	// Deprecated: use PrepareConn, which takes precedence when both are set.
	BeforeAcquire func(context.Context, *pgx.Conn) bool
	// AfterRelease, if set, is called when its holder releases a
	// connection, before it goes back to the pool; false closes it
	// instead. It is not called for a lease taken back (a proven leak, a
	// revocation), whose connection is always closed.
	AfterRelease func(*pgx.Conn) bool
	// BeforeClose, if set, is called before a connection is closed.
	BeforeClose func(*pgx.Conn)
	// ShouldPing, if set, decides whether a connection is pinged before it
	// is handed out, in place of PingAfterIdle.
	ShouldPing func(context.Context, ShouldPingParams) bool
}

// ShouldPingParams are the parameters passed to Config.ShouldPing.
type ShouldPingParams struct {
	Conn         *pgx.Conn
	IdleDuration time.Duration
}

// PartitionConfig configures one partition. A zero field takes the value
// given in its comment.
type PartitionConfig struct {
	// Name identifies the partition in Pool.Partition, stats, metrics and
	// errors. Required and unique.
	Name string
	// Guaranteed connections are reserved for this partition: other
	// partitions may not borrow them, even while unused.
	Guaranteed int
	// Max is the most connections the partition may hold at once. Zero
	// means MaxConns.
	Max int
	// MaxWaiting bounds the partition's wait queue. Zero means ten times
	// Max; -1 means nobody waits.
	MaxWaiting int
	// MinConns is how many connections the partition keeps open while idle.
	MinConns int
	// MinIdleConns is how many idle connections the partition keeps ready.
	MinIdleConns int
	// SuspectAfter overrides Config.SuspectAfter; -1 disables it here.
	SuspectAfter time.Duration
	// MaxHold revokes leases held longer than this. Zero means no limit.
	MaxHold time.Duration
	// IdleInTxTimeout sets the server's idle_in_transaction_session_timeout
	// on this partition's connections. Zero leaves the server's setting.
	IdleInTxTimeout time.Duration
	// ApplicationName is the application_name of the partition's
	// connections, shown in pg_stat_activity. Zero means the connection's
	// application_name (or "poolguard") followed by "/" and Name; the
	// single partition of a pool configured without partitions keeps the
	// connection's own application_name.
	ApplicationName string
}

// Defaults set by ParseConfig.
const (
	defaultMaxConnLifetime   = time.Hour
	defaultMaxConnIdleTime   = 30 * time.Minute
	defaultHealthCheckPeriod = time.Minute
	defaultPingAfterIdle     = time.Second
	defaultSuspectAfter      = time.Minute
	defaultStackDepth        = 8
	defaultCloseTimeout      = 5 * time.Second
	defaultWaitingPerConn    = 10
)

// ParseConfig builds a Config from a PostgreSQL connection string (URL or
// keyword/value), as pgx.ParseConfig does, and sets poolguard's defaults.
// Pool settings may be given as parameters:
//
//	pool_max_conns                MaxConns (default: the larger of 4 and the number of CPUs)
//	pool_min_conns                MinConns
//	pool_min_idle_conns           MinIdleConns
//	pool_max_waiting              MaxWaiting
//	pool_max_conn_lifetime        MaxConnLifetime (default 1h)
//	pool_max_conn_lifetime_jitter MaxConnLifetimeJitter
//	pool_max_conn_idle_time       MaxConnIdleTime (default 30m)
//	pool_health_check_period      HealthCheckPeriod (default 1m)
//	pool_ping_after_idle          PingAfterIdle (default 1s)
//	pool_ping_timeout             PingTimeout
//	pool_suspect_after            SuspectAfter (default 1m)
//	pool_max_hold                 MaxHold
//	pool_stack_depth              StackDepth (default 8)
//
// Every pool_ parameter that pgxpool accepts is accepted, with its
// meaning. Durations use time.ParseDuration's syntax ("90s", "1h").
func ParseConfig(connString string) (*Config, error) {
	cc, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("poolguard: parse connection string: %w", err)
	}
	c := &Config{
		ConnConfig:        cc,
		MaxConns:          max(4, runtime.NumCPU()),
		MaxConnLifetime:   defaultMaxConnLifetime,
		MaxConnIdleTime:   defaultMaxConnIdleTime,
		HealthCheckPeriod: defaultHealthCheckPeriod,
		PingAfterIdle:     defaultPingAfterIdle,
		SuspectAfter:      defaultSuspectAfter,
		StackDepth:        defaultStackDepth,
		CloseTimeout:      defaultCloseTimeout,
	}
	ints := map[string]*int{
		"pool_max_conns":      &c.MaxConns,
		"pool_min_conns":      &c.MinConns,
		"pool_min_idle_conns": &c.MinIdleConns,
		"pool_max_waiting":    &c.MaxWaiting,
		"pool_stack_depth":    &c.StackDepth,
	}
	durations := map[string]*time.Duration{
		"pool_max_conn_lifetime":        &c.MaxConnLifetime,
		"pool_max_conn_lifetime_jitter": &c.MaxConnLifetimeJitter,
		"pool_max_conn_idle_time":       &c.MaxConnIdleTime,
		"pool_health_check_period":      &c.HealthCheckPeriod,
		"pool_ping_after_idle":          &c.PingAfterIdle,
		"pool_ping_timeout":             &c.PingTimeout,
		"pool_suspect_after":            &c.SuspectAfter,
		"pool_max_hold":                 &c.MaxHold,
	}
	// pgx keeps parameters it does not know as server run-time parameters;
	// the pool's own are taken out of there, as pgxpool does.
	for k, v := range cc.RuntimeParams {
		if !strings.HasPrefix(k, "pool_") {
			continue
		}
		delete(cc.RuntimeParams, k)
		if p, ok := ints[k]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("poolguard: %s=%q is not an integer", k, v)
			}
			*p = n
			continue
		}
		if p, ok := durations[k]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("poolguard: %s=%q is not a duration such as \"30s\": %w", k, v, err)
			}
			*p = d
			continue
		}
		return nil, fmt.Errorf("poolguard: unknown pool parameter %q in the connection string: see ParseConfig for the supported ones", k)
	}
	return c, nil
}

// resolved is a Config with its defaults applied and checked.
type resolved struct {
	Config
	parts []PartitionConfig
}

func (c *Config) resolve() (*resolved, error) {
	if c == nil || c.ConnConfig == nil {
		return nil, errors.New("Config.ConnConfig is nil: build the Config with ParseConfig")
	}
	if c.MaxConns < 1 {
		return nil, fmt.Errorf("MaxConns is %d: it must be at least 1", c.MaxConns)
	}
	r := &resolved{Config: *c}
	r.ConnConfig = c.ConnConfig.Copy()
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"MaxConnLifetime", c.MaxConnLifetime},
		{"MaxConnIdleTime", c.MaxConnIdleTime}, {"HealthCheckPeriod", c.HealthCheckPeriod},
		{"SuspectAfter", c.SuspectAfter}, {"MaxHold", c.MaxHold}, {"CloseTimeout", c.CloseTimeout},
		{"PingTimeout", c.PingTimeout},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("%s is %s: it must not be negative (zero disables it)", d.name, d.v)
		}
	}
	if c.PingAfterIdle < -1 {
		return nil, fmt.Errorf("PingAfterIdle is %s: use a positive duration, 0 for the default or -1 to never ping", c.PingAfterIdle)
	}
	if c.StackDepth < -1 || c.StackDepth > engine.MaxStack {
		return nil, fmt.Errorf("StackDepth is %d: use 1 to %d frames, 0 for the default or -1 for none", c.StackDepth, engine.MaxStack)
	}
	if c.MinConns < 0 || c.MinConns > c.MaxConns {
		return nil, fmt.Errorf("MinConns is %d: it must be between 0 and MaxConns (%d)", c.MinConns, c.MaxConns)
	}
	switch {
	case c.MaxConnLifetimeJitter == 0:
		r.MaxConnLifetimeJitter = c.MaxConnLifetime / 10
	case c.MaxConnLifetimeJitter == -1:
		r.MaxConnLifetimeJitter = 0
	case c.MaxConnLifetimeJitter < 0:
		return nil, fmt.Errorf("MaxConnLifetimeJitter is %s: use a positive duration, 0 for a tenth of MaxConnLifetime or -1 for none", c.MaxConnLifetimeJitter)
	}
	if r.HealthCheckPeriod == 0 {
		r.HealthCheckPeriod = defaultHealthCheckPeriod
	}
	if r.PingAfterIdle == 0 {
		r.PingAfterIdle = defaultPingAfterIdle
	}
	if r.StackDepth == 0 {
		r.StackDepth = defaultStackDepth
	}
	if r.CloseTimeout == 0 {
		r.CloseTimeout = defaultCloseTimeout
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.PrepareConn == nil && r.BeforeAcquire != nil {
		before := r.BeforeAcquire
		r.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) { return before(ctx, c), nil }
	}
	r.parts = c.Partitions
	if len(r.parts) == 0 {
		r.parts = []PartitionConfig{{Name: DefaultPartition, MaxWaiting: c.MaxWaiting, MinConns: c.MinConns, MinIdleConns: c.MinIdleConns, MaxHold: c.MaxHold}}
	} else {
		r.parts = append([]PartitionConfig(nil), r.parts...)
	}
	for i := range r.parts {
		p := &r.parts[i]
		switch {
		case p.Max == 0:
			p.Max = c.MaxConns
		case p.Max < 0:
			return nil, fmt.Errorf("partition %q: Max is %d: it must be at least 1, or 0 for MaxConns", p.Name, p.Max)
		}
		switch {
		case p.MaxWaiting == 0:
			p.MaxWaiting = defaultWaitingPerConn * p.Max
		case p.MaxWaiting == -1:
			p.MaxWaiting = 0
		case p.MaxWaiting < -1:
			return nil, fmt.Errorf("partition %q: MaxWaiting is %d: use a positive bound, 0 for the default or -1 for no waiting", p.Name, p.MaxWaiting)
		}
		switch {
		case p.SuspectAfter == 0:
			p.SuspectAfter = c.SuspectAfter
		case p.SuspectAfter == -1:
			p.SuspectAfter = 0
		case p.SuspectAfter < -1:
			return nil, fmt.Errorf("partition %q: SuspectAfter is %s: use a positive duration, 0 to inherit or -1 to disable", p.Name, p.SuspectAfter)
		}
		if p.MaxHold < 0 {
			return nil, fmt.Errorf("partition %q: MaxHold is %s: it must not be negative (zero disables it)", p.Name, p.MaxHold)
		}
		switch {
		case p.IdleInTxTimeout < 0:
			return nil, fmt.Errorf("partition %q: IdleInTxTimeout is %s: it must not be negative (zero leaves the server's setting)", p.Name, p.IdleInTxTimeout)
		case p.IdleInTxTimeout > 0 && p.IdleInTxTimeout < time.Millisecond:
			// The server counts in milliseconds, where 0 means off: a
			// shorter timeout is rounded up, never turned into none.
			p.IdleInTxTimeout = time.Millisecond
		}
		if p.MinConns < 0 || p.MinConns > p.Max {
			return nil, fmt.Errorf("partition %q: MinConns is %d: it must be between 0 and its Max (%d)", p.Name, p.MinConns, p.Max)
		}
		if p.MinIdleConns < 0 || p.MinIdleConns > c.MaxConns {
			return nil, fmt.Errorf("partition %q: MinIdleConns is %d: it must be between 0 and MaxConns (%d)", p.Name, p.MinIdleConns, c.MaxConns)
		}
	}
	return r, nil
}

// DefaultPartition is the name of the partition of a pool configured
// without partitions.
const DefaultPartition = "default"

// connConfig returns the partition's connection settings: the pool's, with
// the partition's application_name and idle-in-transaction timeout.
func (r *resolved) connConfig(p PartitionConfig) *pgx.ConnConfig {
	cc := r.ConnConfig.Copy()
	name := p.ApplicationName
	if name == "" && len(r.Partitions) > 0 {
		base := cc.RuntimeParams["application_name"]
		if base == "" {
			base = "poolguard"
		}
		name = base + "/" + p.Name
	}
	if name != "" {
		cc.RuntimeParams["application_name"] = name
	}
	if p.IdleInTxTimeout > 0 {
		cc.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(p.IdleInTxTimeout.Milliseconds(), 10)
	}
	return cc
}
