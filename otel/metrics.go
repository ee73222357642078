package otel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/poolguard/poolguard"
)

// ScopeName is the instrumentation scope of the meter and tracer.
const ScopeName = "github.com/poolguard/poolguard/otel"

// SchemaURL is the semantic conventions' version the instruments follow.
const SchemaURL = "https://opentelemetry.io/schemas/1.43.0"

// DefaultPoolName is the pool name used when WithPoolName is not given.
const DefaultPoolName = "poolguard"

// Attribute keys. The pool name and state are the semantic conventions';
// the others are poolguard's own.
const (
	PoolNameKey      = attribute.Key("db.client.connection.pool.name")
	StateKey         = attribute.Key("db.client.connection.state")
	LeakKindKey      = attribute.Key("poolguard.leak.kind")
	ReclaimReasonKey = attribute.Key("poolguard.reclaim.reason")
	RejectReasonKey  = attribute.Key("poolguard.reject.reason")
	PoolKey          = attribute.Key("poolguard.pool.name")
	PartitionKey     = attribute.Key("poolguard.partition")
)

// An Option configures Register.
type Option func(*options) error

type options struct {
	provider metric.MeterProvider
	name     string
	attrs    []attribute.KeyValue
}

// WithMeterProvider sets the MeterProvider the instruments are created
// with. The default is the global one, otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error {
		if mp == nil {
			return errors.New("otel: WithMeterProvider needs a MeterProvider, got nil")
		}
		o.provider = mp
		return nil
	}
}

// WithPoolName sets the first part of the db.client.connection.pool.name
// attribute, "<name>/<partition>". The default is DefaultPoolName.
func WithPoolName(name string) Option {
	return func(o *options) error {
		if name == "" || !utf8.ValidString(name) {
			return fmt.Errorf("otel: pool name %q must be non-empty UTF-8 text, such as the application's name", name)
		}
		o.name = name
		return nil
	}
}

// WithAttributes adds attributes to every measurement.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(o *options) error {
		o.attrs = append(o.attrs, attrs...)
		return nil
	}
}

// A Registration is the pool's instruments in one MeterProvider.
type Registration struct {
	reg    metric.Registration
	tracer *Tracer
	pool   *poolguard.Pool
	hist   *histograms
	once   sync.Once
	err    error
}

// Unregister stops reporting the pool's metrics: the callback is removed
// and the pool's Tracer, if any, stops recording its histograms.
// Calling it again does nothing.
func (r *Registration) Unregister() error {
	r.once.Do(func() {
		if r.tracer != nil {
			r.tracer.detach(r.pool, r.hist)
		}
		if err := r.reg.Unregister(); err != nil {
			r.err = fmt.Errorf("otel: unregister the pool's callback: %w", err)
		}
	})
	return r.err
}

// part holds a partition's precomputed measurement options, so that a
// collection builds no attribute set.
type part struct {
	base, idle, used metric.MeasurementOption
	leak             map[poolguard.LeakKind]metric.MeasurementOption
	reclaim          map[poolguard.ReclaimReason]metric.MeasurementOption
	reject           map[poolguard.RejectReason]metric.MeasurementOption
}

// Register creates the pool's instruments with a MeterProvider and
// registers one callback that reads one Pool.Stats snapshot per collection
// for all of them.
//
// The connection histograms (db.client.connection.create_time, wait_time,
// use_time) are recorded by the pool's Tracer, so they are reported only
// when the pool's ConnConfig.Tracer is a *Tracer; see NewTracer.
func Register(pool *poolguard.Pool, opts ...Option) (*Registration, error) {
	if pool == nil {
		return nil, errors.New("otel: Register needs a pool, got nil")
	}
	o := options{name: DefaultPoolName}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.provider == nil {
		o.provider = gotel.GetMeterProvider()
	}
	m := o.provider.Meter(ScopeName, metric.WithSchemaURL(SchemaURL))
	in, err := newInstruments(m)
	if err != nil {
		return nil, err
	}

	with := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		all := append(append([]attribute.KeyValue(nil), o.attrs...), kv...)
		return metric.WithAttributeSet(attribute.NewSet(all...))
	}
	parts := map[string]*part{}
	hist := &histograms{wait: in.waitTime, use: in.useTime, create: in.createTime, attrs: map[string][]metric.RecordOption{}}
	for _, pt := range pool.Partitions() {
		name := PoolNameKey.String(o.name + "/" + pt.Name())
		p := &part{
			base: with(name),
			idle: with(name, StateKey.String("idle")),
			used: with(name, StateKey.String("used")),
			leak: map[poolguard.LeakKind]metric.MeasurementOption{},

			reclaim: map[poolguard.ReclaimReason]metric.MeasurementOption{},
			reject:  map[poolguard.RejectReason]metric.MeasurementOption{},
		}
		for _, k := range poolguard.LeakKinds() {
			p.leak[k] = with(name, LeakKindKey.String(k.String()))
		}
		for _, r := range poolguard.ReclaimReasons() {
			p.reclaim[r] = with(name, ReclaimReasonKey.String(r.String()))
		}
		for _, r := range poolguard.RejectReasons() {
			p.reject[r] = with(name, RejectReasonKey.String(r.String()))
		}
		parts[pt.Name()] = p
		hist.attrs[pt.Name()] = []metric.RecordOption{with(name)}
	}
	whole := with(PoolKey.String(o.name))

	reg, err := m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		in.observe(ob, pool.Stats(), parts, whole)
		return nil
	}, in.observables...)
	if err != nil {
		return nil, fmt.Errorf("otel: register the pool's callback: %w", err)
	}
	r := &Registration{reg: reg, pool: pool, hist: hist}
	if t, ok := pool.Config().ConnConfig.Tracer.(*Tracer); ok {
		r.tracer = t
		t.attach(pool, hist)
	}
	return r, nil
}

// instruments are a pool's instruments in one Meter.
type instruments struct {
	count, max, idleMax, idleMin, pending metric.Int64ObservableUpDownCounter
	timeouts                              metric.Int64ObservableCounter
	createTime, waitTime, useTime         metric.Float64Histogram

	leaks, suspects, suspectsBack, reclaimed, rejected metric.Int64ObservableCounter
	acquires, waited, opened, openFailures, closed     metric.Int64ObservableCounter
	limit, opening                                     metric.Int64ObservableUpDownCounter
	empty, closedLifetime, closedIdle                  metric.Int64ObservableCounter
	oldest                                             metric.Float64ObservableGauge
	suspectedNow, guaranteed, borrowed, maxPending     metric.Int64ObservableUpDownCounter
	paused                                             metric.Int64ObservableGauge
	poolMax, poolConns                                 metric.Int64ObservableUpDownCounter

	observables []metric.Observable
}

// seconds converts bucket bounds to seconds, the conventions' unit.
func seconds(ds []time.Duration) []float64 {
	s := make([]float64, len(ds))
	for i, d := range ds {
		s[i] = d.Seconds()
	}
	return s
}

func newInstruments(m metric.Meter) (*instruments, error) {
	in := &instruments{}
	var errs []error
	udc := func(dst *metric.Int64ObservableUpDownCounter, name, unit, desc string) {
		i, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		*dst = i
		in.observables = append(in.observables, i)
	}
	ctr := func(dst *metric.Int64ObservableCounter, name, unit, desc string) {
		i, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		*dst = i
		in.observables = append(in.observables, i)
	}
	hist := func(dst *metric.Float64Histogram, name, desc string, bounds []time.Duration) {
		i, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(seconds(bounds)...))
		errs = append(errs, err)
		*dst = i
	}

	// The semantic conventions' instruments, with their descriptions.
	udc(&in.count, "db.client.connection.count", "{connection}", "The number of connections that are currently in state described by the `state` attribute.")
	udc(&in.limit, "db.client.connection.limit", "{connection}", "The maximum number of open connections allowed.")
	// The conventions' earlier name of the limit, which newer versions list
	// as deprecated in favour of .limit: kept while dashboards query it.
	udc(&in.max, "db.client.connection.max", "{connection}", "Deprecated: use db.client.connection.limit. The maximum number of open connections allowed.")
	udc(&in.idleMax, "db.client.connection.idle.max", "{connection}", "The maximum number of idle open connections allowed.")
	udc(&in.idleMin, "db.client.connection.idle.min", "{connection}", "The minimum number of idle open connections allowed.")
	udc(&in.pending, "db.client.connection.pending_requests", "{request}", "The number of current pending requests for an open connection.")
	ctr(&in.timeouts, "db.client.connection.timeouts", "{timeout}", "The number of connection timeouts that have occurred trying to obtain a connection from the pool.")
	hist(&in.createTime, "db.client.connection.create_time", "The time it took to create a new connection.", poolguard.OpenTimeBounds)
	hist(&in.waitTime, "db.client.connection.wait_time", "The time it took to obtain an open connection from the pool.", poolguard.WaitTimeBounds)
	hist(&in.useTime, "db.client.connection.use_time", "The time between borrowing a connection and returning it to the pool.", poolguard.UseTimeBounds)

	// poolguard's own, named so that the OpenTelemetry-to-Prometheus
	// translation gives package prom's names.
	ctr(&in.leaks, "poolguard.leaks", "{leak}", "Proven connection leaks, by the detector that proved them; each one's connection was reclaimed.")
	ctr(&in.suspects, "poolguard.suspected_leaks", "{leak}", "Leases held longer than SuspectAfter with no query in flight.")
	ctr(&in.suspectsBack, "poolguard.suspected_leaks_returned", "{leak}", "Suspected leases that were released after all.")
	ctr(&in.reclaimed, "poolguard.reclaimed_connections", "{connection}", "Connections taken back from their holder, by reason.")
	ctr(&in.rejected, "poolguard.rejected_acquires", "{request}", "Acquires refused, by reason.")
	ctr(&in.acquires, "poolguard.acquires", "{request}", "Leases granted.")
	ctr(&in.waited, "poolguard.waited_acquires", "{request}", "Leases granted after waiting in the queue.")
	ctr(&in.opened, "poolguard.connections_opened", "{connection}", "Connections opened.")
	ctr(&in.openFailures, "poolguard.connection_open_failures", "{connection}", "Connections that failed to open.")
	ctr(&in.closed, "poolguard.connections_closed", "{connection}", "Connections closed: expired, idle, broken, reclaimed or evicted.")
	ctr(&in.closedLifetime, "poolguard.connections_closed_lifetime", "{connection}", "Connections closed for reaching MaxConnLifetime.")
	ctr(&in.closedIdle, "poolguard.connections_closed_idle", "{connection}", "Connections closed for staying idle past MaxConnIdleTime.")
	ctr(&in.empty, "poolguard.empty_acquires", "{request}", "Leases granted that found no idle connection: they waited for one, or opened one.")
	udc(&in.opening, "poolguard.connections_opening", "{connection}", "Connections being opened now.")
	g, err := m.Float64ObservableGauge("poolguard.oldest_lease_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest lease held; zero if none. A leak makes it grow steadily."))
	errs = append(errs, err)
	in.oldest = g
	in.observables = append(in.observables, g)
	udc(&in.suspectedNow, "poolguard.suspected_leases", "{lease}", "Leases held now that were reported as suspected leaks.")
	udc(&in.guaranteed, "poolguard.guaranteed_connections", "{connection}", "Connections reserved for the partition.")
	udc(&in.borrowed, "poolguard.borrowed_connections", "{connection}", "Leases held beyond the partition's guarantee.")
	udc(&in.maxPending, "poolguard.max_pending_requests", "{request}", "The bound of the partition's wait queue.")
	p, err := m.Int64ObservableGauge("poolguard.paused", metric.WithUnit("{partition}"),
		metric.WithDescription("1 if the partition is paused: its acquires are refused."))
	errs = append(errs, err)
	in.paused = p
	in.observables = append(in.observables, p)
	udc(&in.poolMax, "poolguard.pool_max_connections", "{connection}", "The pool's hard cap on connections, over all partitions.")
	udc(&in.poolConns, "poolguard.pool_connections", "{connection}", "The pool's open connections, over all partitions: idle, in use, opening and closing.")

	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("otel: create instruments: %w", err)
	}
	return in, nil
}

// observe reports one snapshot.
func (in *instruments) observe(o metric.Observer, st poolguard.Stats, parts map[string]*part, whole metric.MeasurementOption) {
	o.ObserveInt64(in.poolMax, int64(st.MaxConns), whole)
	o.ObserveInt64(in.poolConns, int64(st.TotalConns), whole)
	guaranteed := 0
	for _, p := range st.Partitions {
		guaranteed += p.Guaranteed
	}
	for _, s := range st.Partitions {
		p := parts[s.Name]
		if p == nil {
			continue // cannot happen: partitions are fixed when the pool is created
		}
		// The most the partition can ever hold: its Max, within what the
		// other partitions' guarantees leave of MaxConns (as package prom).
		limit := int64(min(s.Max, st.MaxConns-(guaranteed-s.Guaranteed)))
		o.ObserveInt64(in.count, int64(s.Idle), p.idle)
		o.ObserveInt64(in.count, int64(s.InUse), p.used)
		o.ObserveInt64(in.limit, limit, p.base)
		o.ObserveInt64(in.max, limit, p.base)
		o.ObserveInt64(in.idleMax, limit, p.base)
		o.ObserveInt64(in.idleMin, int64(s.MinConns), p.base)
		o.ObserveInt64(in.pending, int64(s.Waiting), p.base)
		o.ObserveInt64(in.timeouts, s.Timeouts(), p.base)

		for k, opt := range p.leak {
			if k.Proven() {
				o.ObserveInt64(in.leaks, s.Leaks.Of(k), opt)
			}
		}
		o.ObserveInt64(in.suspects, s.Leaks.Of(poolguard.LeakSuspected), p.base)
		o.ObserveInt64(in.suspectsBack, s.Leaks.Of(poolguard.LeakSuspectReturned), p.base)
		for r, opt := range p.reclaim {
			o.ObserveInt64(in.reclaimed, s.Reclaimed.Of(r), opt)
		}
		for r, opt := range p.reject {
			o.ObserveInt64(in.rejected, s.Rejected.Of(r), opt)
		}
		o.ObserveInt64(in.acquires, s.Acquires, p.base)
		o.ObserveInt64(in.waited, s.WaitedAcquires, p.base)
		o.ObserveInt64(in.opened, s.Opened, p.base)
		o.ObserveInt64(in.openFailures, s.OpenFailures, p.base)
		o.ObserveInt64(in.closed, s.Closed, p.base)
		o.ObserveInt64(in.closedLifetime, s.ClosedLifetime, p.base)
		o.ObserveInt64(in.closedIdle, s.ClosedIdle, p.base)
		o.ObserveInt64(in.empty, s.EmptyAcquires, p.base)
		o.ObserveInt64(in.opening, int64(s.Opening), p.base)
		o.ObserveFloat64(in.oldest, s.OldestLease.Seconds(), p.base)
		o.ObserveInt64(in.suspectedNow, int64(s.Suspected), p.base)
		o.ObserveInt64(in.guaranteed, int64(s.Guaranteed), p.base)
		o.ObserveInt64(in.borrowed, int64(s.Borrowed), p.base)
		o.ObserveInt64(in.maxPending, int64(s.MaxWaiting), p.base)
		var paused int64
		if s.Paused {
			paused = 1
		}
		o.ObserveInt64(in.paused, paused, p.base)
	}
}

// histograms are one registration's synchronous histograms, which the
// pool's Tracer records into.
type histograms struct {
	wait, use, create metric.Float64Histogram
	// by partition, as a slice so that recording does not allocate one
	attrs map[string][]metric.RecordOption
}
