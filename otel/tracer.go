package otel

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/poolguard/poolguard"
)

// A TracerOption configures NewTracer.
type TracerOption func(*Tracer)

// WithTracerProvider sets the TracerProvider spans are created with. The
// default is the global one, otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) TracerOption {
	return func(t *Tracer) {
		if tp != nil {
			t.tracer = tp.Tracer(ScopeName, trace.WithSchemaURL(SchemaURL))
		}
	}
}

// WithQueryTracer sets the tracer that pgx's own calls are passed to, such
// as an existing pgx tracing library's, so query tracing keeps working.
// Its BatchTracer, CopyFromTracer, PrepareTracer, ConnectTracer,
// poolguard.AcquireTracer and poolguard.ReleaseTracer methods are called
// too when it has them.
func WithQueryTracer(next pgx.QueryTracer) TracerOption {
	return func(t *Tracer) { t.next = next }
}

// WithLogger sets the logger that leak events are logged to, with the
// trace and span IDs of the acquire. The default is slog.Default().
func WithLogger(l *slog.Logger) TracerOption {
	return func(t *Tracer) {
		if l != nil {
			t.logger = l
		}
	}
}

// WithLeaseLimit bounds the leases the Tracer remembers; the default is
// DefaultLeaseLimit. When the bound is reached, the records of leases that
// ended unseen (a connection revoked, or released with a call in flight)
// are dropped; if that is not enough, new leases go unremembered, so their
// leak events carry no trace context.
func WithLeaseLimit(n int) TracerOption {
	return func(t *Tracer) {
		if n > 0 {
			t.limit = n
		}
	}
}

// DefaultLeaseLimit is the number of leases a Tracer remembers by default.
const DefaultLeaseLimit = 4096

// Tracer is a pgx tracer for a poolguard pool's ConnConfig.Tracer. It
//
//   - starts a span for every acquire that waited or failed, with the
//     partition and the wait, and on failure the error as the span's status;
//   - remembers, for each lease, the span that was active at the acquire
//     (the caller's, else the acquire's own), so that OnLeak can attach a
//     leak event to it;
//   - records the db.client.connection.create_time, wait_time and use_time
//     histograms for every registration of its pool (see Register);
//   - passes every pgx call on to the QueryTracer given by WithQueryTracer.
//
// One Tracer may serve several pools; leases are told apart by backend PID.
type Tracer struct {
	tracer trace.Tracer
	next   pgx.QueryTracer
	logger *slog.Logger
	limit  int

	// hist maps a pool to its registrations' histograms; copied on write,
	// since every acquire reads it.
	hist   atomic.Pointer[map[*poolguard.Pool][]*histograms]
	histMu sync.Mutex

	mu     sync.Mutex
	leases map[uint32]lease // by backend PID
}

// lease is what the Tracer remembers of a lease.
type lease struct {
	pool      *poolguard.Pool
	partition string
	span      trace.Span // the caller's span at the acquire, else the acquire's
	at        time.Time  // when the acquire ended
	suspected bool       // reported as a suspect: kept past the release for the suspect_returned event
}

// NewTracer returns a Tracer. Set it as the pool's ConnConfig.Tracer and
// chain its OnLeak with Config.OnLeak before the pool is created:
//
//	t := otel.NewTracer()
//	cfg.ConnConfig.Tracer = t
//	cfg.OnLeak = t.OnLeak(cfg.OnLeak)
func NewTracer(opts ...TracerOption) *Tracer {
	t := &Tracer{logger: slog.Default(), limit: DefaultLeaseLimit, leases: map[uint32]lease{}}
	for _, opt := range opts {
		if opt != nil {
			opt(t)
		}
	}
	if t.tracer == nil {
		t.tracer = gotel.GetTracerProvider().Tracer(ScopeName, trace.WithSchemaURL(SchemaURL))
	}
	return t
}

// attach makes the Tracer record h for pool.
func (t *Tracer) attach(pool *poolguard.Pool, h *histograms) {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	m := map[*poolguard.Pool][]*histograms{}
	if old := t.hist.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[pool] = append(append([]*histograms(nil), m[pool]...), h)
	t.hist.Store(&m)
}

// detach stops recording h.
func (t *Tracer) detach(pool *poolguard.Pool, h *histograms) {
	t.histMu.Lock()
	defer t.histMu.Unlock()
	m := map[*poolguard.Pool][]*histograms{}
	for k, v := range *t.hist.Load() {
		m[k] = v
	}
	var keep []*histograms
	for _, x := range m[pool] {
		if x != h {
			keep = append(keep, x)
		}
	}
	if len(keep) == 0 {
		delete(m, pool)
	} else {
		m[pool] = keep
	}
	t.hist.Store(&m)
}

func (t *Tracer) histograms(pool *poolguard.Pool) []*histograms {
	if m := t.hist.Load(); m != nil {
		return (*m)[pool]
	}
	return nil
}

// record records d in the histogram that pick chooses, for each
// registration of pool.
func (t *Tracer) record(ctx context.Context, pool *poolguard.Pool, partition string, d time.Duration, pick func(*histograms) metric.Float64Histogram) {
	for _, h := range t.histograms(pool) {
		if opts, ok := h.attrs[partition]; ok {
			pick(h).Record(ctx, d.Seconds(), opts...)
		}
	}
}

type acquireKey struct{}

// acquireCtx is the context of an acquire in progress: it carries the pool
// and partition, for a connection opened on the acquire's behalf to be
// counted in them. One allocation, where context.WithValue and a value
// would be two.
type acquireCtx struct {
	context.Context
	pool      *poolguard.Pool
	partition string
}

func (c *acquireCtx) Value(key any) any {
	if key == (acquireKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// TraceAcquireStart implements poolguard.AcquireTracer.
func (t *Tracer) TraceAcquireStart(ctx context.Context, pool *poolguard.Pool, data poolguard.TraceAcquireStartData) context.Context {
	if at, ok := t.next.(poolguard.AcquireTracer); ok {
		ctx = at.TraceAcquireStart(ctx, pool, data)
	}
	if len(t.histograms(pool)) > 0 {
		ctx = &acquireCtx{Context: ctx, pool: pool, partition: data.Partition}
	}
	return ctx
}

// TraceAcquireEnd implements poolguard.AcquireTracer.
func (t *Tracer) TraceAcquireEnd(ctx context.Context, pool *poolguard.Pool, data poolguard.TraceAcquireEndData) {
	if at, ok := t.next.(poolguard.AcquireTracer); ok {
		at.TraceAcquireEnd(ctx, pool, data)
	}
	now := time.Now()
	if data.Err == nil {
		t.record(ctx, pool, data.Partition, data.Waited, func(h *histograms) metric.Float64Histogram { return h.wait })
	}
	// A leak is attached to the caller's span, which is likely to be still
	// recording when a lease is suspected or revoked, rather than to the
	// acquire's, which has ended; to the acquire's when there is no other.
	remembered := trace.SpanFromContext(ctx)
	if data.Waited > 0 || data.Err != nil {
		// Whether an acquire waits is known only at its end, so its span
		// starts then, back-dated by the wait: acquires served at once
		// make no span.
		_, span := t.tracer.Start(ctx, "poolguard.acquire",
			trace.WithTimestamp(now.Add(-data.Waited)),
			trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(
				PartitionKey.String(data.Partition),
				attribute.Float64("poolguard.acquire.wait_time", data.Waited.Seconds()),
			))
		if data.Err != nil {
			span.SetAttributes(attribute.String("error.type", errorType(data.Err)))
			if r, ok := rejectReason(data.Err); ok {
				span.SetAttributes(RejectReasonKey.String(r))
			}
			span.RecordError(data.Err)
			span.SetStatus(codes.Error, data.Err.Error())
		}
		span.End(trace.WithTimestamp(now))
		if !remembered.SpanContext().IsValid() {
			remembered = span
		}
	}
	if data.Conn != nil {
		t.remember(data.Conn.PgConn().PID(), lease{pool: pool, partition: data.Partition, span: remembered, at: now})
	}
}

// errorType is the error.type attribute of a failed acquire: the reason
// it was refused, or the conventions' "_OTHER".
func errorType(err error) string {
	if r, ok := rejectReason(err); ok {
		return r
	}
	return "_OTHER"
}

// rejectReason names the poolguard.RejectReason of a refused acquire.
func rejectReason(err error) (string, bool) {
	var ae *poolguard.AcquireError
	if !errors.As(err, &ae) {
		return "", false
	}
	var r poolguard.RejectReason
	switch {
	case errors.Is(err, poolguard.ErrClosed):
		r = poolguard.RejectClosed
	case errors.Is(err, poolguard.ErrPaused):
		r = poolguard.RejectPaused
	case errors.Is(err, poolguard.ErrQueueFull):
		r = poolguard.RejectQueueFull
	case errors.Is(err, poolguard.ErrAcquireTimeout) && ae.Waited == 0:
		r = poolguard.RejectDeadline
	case errors.Is(err, poolguard.ErrAcquireTimeout):
		r = poolguard.RejectTimeout
	default:
		r = poolguard.RejectCanceled
	}
	return r.String(), true
}

// remember records a lease, keeping the records bounded.
func (t *Tracer) remember(pid uint32, l lease) {
	if !l.span.SpanContext().IsValid() && len(t.histograms(l.pool)) == 0 {
		return // nothing to attach a leak to, nor to count its use time in
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.leases[pid]; !ok && len(t.leases) >= t.limit {
		t.sweep()
		if len(t.leases) >= t.limit {
			return
		}
	}
	t.leases[pid] = l
}

// sweep drops the records of leases that ended without the Tracer seeing
// it: those whose backend no longer holds a lease of their pool.
func (t *Tracer) sweep() {
	live := map[*poolguard.Pool]map[uint32]bool{}
	for pid, l := range t.leases {
		pids, ok := live[l.pool]
		if !ok {
			pids = map[uint32]bool{}
			for _, li := range l.pool.Leases() {
				pids[li.PID] = true
			}
			live[l.pool] = pids
		}
		if !pids[pid] {
			delete(t.leases, pid)
		}
	}
}

// TraceRelease implements poolguard.ReleaseTracer.
func (t *Tracer) TraceRelease(pool *poolguard.Pool, data poolguard.TraceReleaseData) {
	if rt, ok := t.next.(poolguard.ReleaseTracer); ok {
		rt.TraceRelease(pool, data)
	}
	t.record(context.Background(), pool, data.Partition, data.Held, func(h *histograms) metric.Float64Histogram { return h.use })
	pid := data.Conn.PgConn().PID()
	t.mu.Lock()
	if l, ok := t.leases[pid]; ok && l.pool == pool && !l.suspected {
		delete(t.leases, pid)
	}
	t.mu.Unlock()
}

// OnLeak returns a Config.OnLeak hook that attaches each leak event to the
// span that was active when the lease was acquired: as an event of that
// span while it is recording, else as a short span linked to it. It logs
// the event with the span's trace_id and span_id, records a reclaimed
// lease's age in db.client.connection.use_time, and then calls next, if
// not nil.
func (t *Tracer) OnLeak(next func(poolguard.LeakEvent)) func(poolguard.LeakEvent) {
	return func(ev poolguard.LeakEvent) {
		t.leak(ev)
		if next != nil {
			next(ev)
		}
	}
}

func (t *Tracer) leak(ev poolguard.LeakEvent) {
	ctx := context.Background()
	t.mu.Lock()
	l, ok := t.leases[ev.PID]
	// The backend may serve a newer lease by now, remembered after this
	// one ended: then the record is not this lease's. An event without an
	// acquire time is of a Conn used after its scope, whose lease was
	// released (and forgotten) when the scope returned.
	if ok && (ev.Acquired.IsZero() || l.at.After(ev.Acquired.Add(ev.Age))) {
		ok = false
	}
	switch {
	case !ok:
	case ev.Kind.Proven(), ev.Kind == poolguard.LeakSuspectReturned:
		delete(t.leases, ev.PID) // the lease is over
	case ev.Kind == poolguard.LeakSuspected:
		// The suspect_returned event comes after the release, and should
		// find the lease's span too.
		l.suspected = true
		t.leases[ev.PID] = l
	}
	t.mu.Unlock()
	if !ok {
		return
	}
	if ev.Kind.Proven() {
		// A reclaimed lease never reaches TraceRelease; the pool counts its
		// hold time as a use, and so do the histograms.
		t.record(ctx, l.pool, l.partition, ev.Age, func(h *histograms) metric.Float64Histogram { return h.use })
	}
	sc := l.span.SpanContext()
	if !sc.IsValid() {
		return
	}
	attrs := []attribute.KeyValue{
		LeakKindKey.String(ev.Kind.String()),
		PartitionKey.String(ev.Partition),
		attribute.String("poolguard.leak.call_site", ev.CallSite),
		attribute.String("poolguard.leak.function", ev.Function),
		attribute.Float64("poolguard.leak.age", ev.Age.Seconds()),
		attribute.Int64("db.client.connection.backend_pid", int64(ev.PID)),
	}
	span := l.span
	if span.IsRecording() {
		span.AddEvent("poolguard.leak", trace.WithAttributes(attrs...))
	} else {
		_, span = t.tracer.Start(ctx, "poolguard.leak",
			trace.WithNewRoot(),
			trace.WithLinks(trace.Link{SpanContext: sc}),
			trace.WithAttributes(attrs...))
		span.AddEvent("poolguard.leak", trace.WithAttributes(attrs...))
		if ev.Kind.Proven() {
			span.SetStatus(codes.Error, "poolguard: connection leak "+ev.Kind.String())
		}
		span.End()
	}
	level := slog.LevelError
	switch ev.Kind {
	case poolguard.LeakSuspected:
		level = slog.LevelWarn
	case poolguard.LeakSuspectReturned:
		level = slog.LevelInfo
	}
	t.logger.LogAttrs(ctx, level, "poolguard: leak event of a traced lease",
		slog.String("kind", ev.Kind.String()), slog.String("partition", ev.Partition),
		slog.String("call_site", ev.CallSite), slog.Any("pid", ev.PID),
		slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
}
